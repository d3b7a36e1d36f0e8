/**
 * The editor's document: pipeline JSON <-> React Flow nodes and edges, the
 * connection check (the runtime's own `incompatibility()`), and the mapping of
 * validator problem paths (`$.nodes[2].config.window`) back to what they concern.
 */
import type { Edge, Node } from "@xyflow/react";
import { edgeId } from "../../sdk/pipeline";
import { incompatibility, type PortType } from "../../sdk/ports";
import { api, type NodeTypeInfo, type PortJson, type Problem } from "./api";

export type EdgeMode = "sync" | "async";

export interface FlowNodeData extends Record<string, unknown> {
  type: string;
  /** The config as written (defaults are not filled in, so export keeps what the user wrote). */
  config?: Record<string, unknown>;
  inputs: Record<string, PortJson>;
  outputs: Record<string, PortJson>;
  /** Other node fields of the file (title, placement, …), kept as they are. */
  extra: Record<string, unknown>;
}

export interface FlowEdgeData extends Record<string, unknown> {
  /** Undefined when the file left it out (it defaults to sync); export keeps it out. */
  mode?: EdgeMode;
  /** The id written in the file, if any; otherwise the id is derived from the ends. */
  explicitId?: string;
  queue?: unknown;
}

export type FlowNode = Node<FlowNodeData, "evoflow">;
export type FlowEdge = Edge<FlowEdgeData>;

export interface PipelineDoc {
  name: string;
  /** Top-level fields other than name, nodes and edges ($schema, description, settings, …). */
  meta: Record<string, unknown>;
}

export const NODE_WIDTH = 200;

export function edgeMode(edge: FlowEdge): EdgeMode {
  return edge.data?.mode ?? "sync";
}

export function flowEdgeId(from: string, fromPort: string, to: string, toPort: string, explicitId?: string): string {
  return edgeId({ id: explicitId, from: `${from}.${fromPort}`, to: `${to}.${toPort}` });
}

export function makeEdge(source: string, sourceHandle: string, target: string, targetHandle: string, data: FlowEdgeData): FlowEdge {
  return {
    id: flowEdgeId(source, sourceHandle, target, targetHandle, data.explicitId),
    source,
    sourceHandle,
    target,
    targetHandle,
    type: "evoflow",
    data,
  };
}

/** A fresh node id from the type's last segment: `transform.jsonata` -> `jsonata`, `jsonata2`, … */
export function freshNodeId(type: string, taken: Set<string>): string {
  const base = (type.split(".").pop() ?? "node").replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z]+/, "") || "node";
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}${i}`)) return `${base}${i}`;
}

export function newNode(info: NodeTypeInfo, id: string, position: { x: number; y: number }): FlowNode {
  return {
    id,
    type: "evoflow",
    position,
    data: { type: info.type, inputs: info.inputs, outputs: info.outputs, extra: {} },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads a pipeline file's JSON. Unknown node types still load (the validator reports them) with no ports. */
export function fromPipeline(
  json: unknown,
  types: Map<string, NodeTypeInfo>,
): { doc: PipelineDoc; nodes: FlowNode[]; edges: FlowEdge[]; needsLayout: boolean } {
  if (!isObject(json)) throw new Error("a pipeline file holds a JSON object");
  const { name, nodes: rawNodes, edges: rawEdges, ...meta } = json;
  if (!Array.isArray(rawNodes)) throw new Error('a pipeline needs a "nodes" array');
  let needsLayout = false;
  const nodes: FlowNode[] = rawNodes.filter(isObject).map((n, i) => {
    const { id, type, config, position, ...extra } = n;
    const info = types.get(String(type));
    const pos = isObject(position) ? { x: Number(position.x), y: Number(position.y) } : undefined;
    if (!pos) needsLayout = true;
    return {
      id: String(id ?? `node${i + 1}`),
      type: "evoflow",
      position: pos ?? { x: 0, y: 0 },
      data: {
        type: String(type),
        config: isObject(config) ? config : undefined,
        inputs: info?.inputs ?? {},
        outputs: info?.outputs ?? {},
        extra,
      },
    };
  });
  const edges: FlowEdge[] = (Array.isArray(rawEdges) ? rawEdges : []).filter(isObject).map((e) => {
    const [source, sourceHandle] = splitEnd(String(e.from));
    const [target, targetHandle] = splitEnd(String(e.to));
    return makeEdge(source, sourceHandle, target, targetHandle, {
      mode: e.mode === "async" || e.mode === "sync" ? e.mode : undefined,
      explicitId: typeof e.id === "string" ? e.id : undefined,
      queue: e.queue,
    });
  });
  return { doc: { name: typeof name === "string" ? name : "untitled", meta }, nodes, edges, needsLayout };
}

function splitEnd(end: string): [string, string] {
  const dot = end.indexOf(".");
  return dot < 0 ? [end, ""] : [end.slice(0, dot), end.slice(dot + 1)];
}

/**
 * The pipeline JSON of the canvas, in canvas order, so a problem's `$.nodes[i]`
 * index maps back through `nodeIds[i]` (and `$.edges[j]` through `edgeIds[j]`).
 */
export function toPipeline(doc: PipelineDoc, nodes: FlowNode[], edges: FlowEdge[]): { json: Record<string, unknown>; nodeIds: string[]; edgeIds: string[] } {
  const json: Record<string, unknown> = {
    apiVersion: "evoflow/v1",
    ...doc.meta,
    name: doc.name,
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.data.type,
      ...n.data.extra,
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      ...(n.data.config !== undefined ? { config: n.data.config } : {}),
    })),
    edges: edges.map((e) => ({
      ...(e.data?.explicitId ? { id: e.data.explicitId } : {}),
      from: `${e.source}.${e.sourceHandle}`,
      to: `${e.target}.${e.targetHandle}`,
      ...(e.data?.mode ? { mode: e.data.mode } : {}),
      ...(e.data?.queue !== undefined ? { queue: e.data.queue } : {}),
    })),
  };
  return { json, nodeIds: nodes.map((n) => n.id), edgeIds: edges.map((e) => e.id) };
}

/** The exported file: exactly what `evoflow fmt` writes for the same pipeline (the runtime formats it). */
export async function exportPipeline(doc: PipelineDoc, nodes: FlowNode[], edges: FlowEdge[]): Promise<string> {
  return (await api.format(toPipeline(doc, nodes, edges).json)).text;
}

export interface PlacedProblems {
  /** Node id -> problems; `field` is the config path under the node (`window`, `source.count`) or "" for the node itself. */
  nodes: Map<string, { field: string; message: string }[]>;
  edges: Map<string, string[]>;
  /** Problems about the pipeline as a whole. */
  pipeline: Problem[];
}

const NODE_PATH = /^\$\.nodes\[(\d+)\](.*)$/;
const EDGE_PATH = /^\$\.edges\[(\d+)\](.*)$/;

/** Turns `.config.source.count` / `["a-b"]` / `[2]` segments into `source.count` / `a-b` / `2`. */
function configField(rest: string): string | undefined {
  if (!rest.startsWith(".config")) return undefined;
  const segments: string[] = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of rest.slice(".config".length).matchAll(re)) segments.push(m[1] ?? m[2] ?? JSON.parse(m[3]));
  return segments.join(".");
}

export function placeProblems(problems: Problem[], nodeIds: string[], edgeIds: string[]): PlacedProblems {
  const placed: PlacedProblems = { nodes: new Map(), edges: new Map(), pipeline: [] };
  for (const p of problems) {
    const n = NODE_PATH.exec(p.path);
    const e = EDGE_PATH.exec(p.path);
    if (n && nodeIds[Number(n[1])] !== undefined) {
      const id = nodeIds[Number(n[1])];
      const field = configField(n[2]) ?? "";
      const label = field || n[2].replace(/^\./, "");
      const list = placed.nodes.get(id) ?? [];
      list.push({ field, message: field || !label ? p.message : `${label}: ${p.message}` });
      placed.nodes.set(id, list);
    } else if (e && edgeIds[Number(e[1])] !== undefined) {
      const id = edgeIds[Number(e[1])];
      placed.edges.set(id, [...(placed.edges.get(id) ?? []), e[2] ? `${e[2].replace(/^\./, "")}: ${p.message}` : p.message]);
    } else placed.pipeline.push(p);
  }
  return placed;
}

/**
 * The type an output port carries, resolving `sameAs(input)` through what feeds
 * that input on the canvas (as the validator does); undefined when not yet known.
 */
export function outputType(nodeId: string, port: string, nodes: Map<string, FlowNode>, edges: FlowEdge[], depth = 0): PortJson | undefined {
  const t = nodes.get(nodeId)?.data.outputs[port];
  if (!t || t.kind !== "sameAs") return t;
  if (depth > nodes.size) return undefined;
  const feed = edges.find((e) => e.target === nodeId && e.targetHandle === t.input);
  return feed ? outputType(feed.source, feed.sourceHandle ?? "", nodes, edges, depth + 1) : undefined;
}

/** Why this connection may not be made, or undefined when it may: the same check `evoflow validate` runs. */
export function connectionProblem(
  c: { source: string; sourceHandle?: string | null; target: string; targetHandle?: string | null },
  nodes: Map<string, FlowNode>,
  edges: FlowEdge[],
): string | undefined {
  if (c.source === c.target) return "a node cannot feed itself";
  const from = nodes.get(c.source);
  const to = nodes.get(c.target);
  if (!from || !to) return "unknown node";
  const fromPort = c.sourceHandle ?? "";
  const toPort = c.targetHandle ?? "";
  if (!(toPort in to.data.inputs)) return `${c.target} has no input "${toPort}"`;
  if (edges.some((e) => e.source === c.source && e.sourceHandle === fromPort && e.target === c.target && e.targetHandle === toPort))
    return `${c.source}.${fromPort} already feeds ${c.target}.${toPort}`;
  const fromType = outputType(c.source, fromPort, nodes, edges);
  const toType = to.data.inputs[toPort];
  if (!fromType || fromType.kind === "sameAs") return undefined; // decided once its input is wired; validate checks again
  const why = incompatibility(fromType as PortType, toType as PortType);
  return why && `${c.source}.${fromPort} (${fromType.label}) cannot feed ${c.target}.${toPort} (${toType.label}): ${why}`;
}

/** Handle colours by port kind (the legend in the palette uses the same). */
export const PORT_COLORS: Record<PortJson["kind"], string> = {
  tensor: "#e8590c",
  record: "#1c7ed6",
  labelled: "#2f9e44",
  prediction: "#ae3ec9",
  event: "#e03131",
  model: "#f08c00",
  metrics: "#0c8599",
  any: "#868e96",
  sameAs: "#adb5bd",
};
