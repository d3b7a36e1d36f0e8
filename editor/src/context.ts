/**
 * What nodes and edges on the canvas show beside their own data: validator
 * problems and live status. Kept out of node data so undo/redo history holds
 * only the document.
 */
import { createContext, useContext } from "react";
import type { EdgeStatus, NodeTypeInfo } from "./api";
import type { PlacedProblems } from "./graph";

export interface NodeLive {
  in: number;
  out: number;
  errors: number;
  /** Messages out per second since the previous poll. */
  rate: number;
  /** Other figures the node reports (drift magnitude, buffer fill, …). */
  extra: Record<string, unknown>;
}

export interface EdgeLive extends EdgeStatus {
  rate: number;
}

export interface CanvasInfo {
  types: Map<string, NodeTypeInfo>;
  problems: PlacedProblems;
  nodeStatus: Map<string, NodeLive>;
  edgeStatus: Map<string, EdgeLive>;
}

export const emptyProblems = (): PlacedProblems => ({ nodes: new Map(), edges: new Map(), pipeline: [] });

export const CanvasContext = createContext<CanvasInfo>({
  types: new Map(),
  problems: emptyProblems(),
  nodeStatus: new Map(),
  edgeStatus: new Map(),
});

export const useCanvasInfo = () => useContext(CanvasContext);
