/**
 * What nodes and edges on the canvas show beside their own data: validator
 * problems and live status. Kept out of node data so undo/redo history holds
 * only the document.
 */
import { createContext, useContext } from "react";
import type { NodeTypeInfo } from "./api";
import type { PlacedBundle } from "./core/edge-bundles";
import type { EdgeLive, NodeLive } from "./core/live-status";
import type { PlacedProblems } from "./graph";

export type { EdgeLive, NodeLive };

export interface CanvasInfo {
  types: Map<string, NodeTypeInfo>;
  problems: PlacedProblems;
  nodeStatus: Map<string, NodeLive>;
  edgeStatus: Map<string, EdgeLive>;
  /** Each edge's bundle while the canvas is compact (core/edge-bundles.ts); undefined at full detail. */
  bundles?: Map<string, PlacedBundle>;
}

export const emptyProblems = (): PlacedProblems => ({ nodes: new Map(), edges: new Map(), pipeline: [] });

export const CanvasContext = createContext<CanvasInfo>({
  types: new Map(),
  problems: emptyProblems(),
  nodeStatus: new Map(),
  edgeStatus: new Map(),
});

export const useCanvasInfo = () => useContext(CanvasContext);
