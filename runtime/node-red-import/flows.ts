/**
 * A Node-RED flows.json as a graph of the nodes that do work: subflow instances inlined, and
 * `link in`/`link out` pairs and junctions (which only route) replaced by the wires they stand
 * for. Pure (no Node.js APIs): the CLI and the API route run the same code.
 */

/** A node of flows.json as Node-RED writes it; `wires[k]` are the targets of output k. */
export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  x?: number;
  y?: number;
  wires?: string[][];
  [key: string]: unknown;
}

/** A node dropped or resolved while building the graph, for the report. */
export interface Resolved {
  node: FlowNode;
  tab?: string;
  how: "resolved" | "not carried" | "dropped";
  why: string;
}

export interface FlowGraph {
  /** Tab id → its label (a flow without tab nodes, as the shipped examples, gets one per `z`). */
  tabs: Map<string, string>;
  /** Working nodes by id, in file order, each with its wires resolved to working nodes. */
  nodes: Map<string, FlowNode>;
  /** Nodes on no tab (config nodes: mqtt-broker, tls-config, …) by id. */
  configNodes: Map<string, FlowNode>;
  resolved: Resolved[];
}

/** Bad input: the JSON path and what is wrong with it. */
export class FlowsError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** Node types that only route messages: their wires are followed through them. */
const ROUTING = new Set(["junction", "link in", "link out"]);
/** The subflows a copied node sits in, outermost first: an instance of one of them inside is a loop. */
const WITHIN = Symbol("within subflows");
type Copied = FlowNode & { [WITHIN]?: string[] };

function checked(flows: unknown): FlowNode[] {
  // Node-RED's admin API and some exports wrap the array: { flows: [...] } (with rev).
  const list = isObject(flows) && Array.isArray(flows.flows) ? flows.flows : flows;
  if (!Array.isArray(list)) throw new FlowsError("$", "a flows.json is an array of nodes");
  const ids = new Set<string>();
  return list.map((n, i) => {
    if (!isObject(n)) throw new FlowsError(`$[${i}]`, "a node is an object");
    if (typeof n.id !== "string" || !n.id) throw new FlowsError(`$[${i}].id`, "a node needs an id (a string)");
    if (typeof n.type !== "string" || !n.type) throw new FlowsError(`$[${i}].type`, "a node needs a type (a string)");
    if (ids.has(n.id)) throw new FlowsError(`$[${i}].id`, `id ${n.id} is used twice`);
    ids.add(n.id);
    if (n.wires !== undefined && !(Array.isArray(n.wires) && n.wires.every((w) => Array.isArray(w) && w.every((t) => typeof t === "string"))))
      throw new FlowsError(`$[${i}].wires`, "wires is an array of arrays of node ids");
    return n as FlowNode;
  });
}

/** The subflow's nodes copied into `instance`'s tab, ids prefixed by the instance's, wires rewired. */
function inline(instance: FlowNode, subflow: FlowNode, all: FlowNode[]): FlowNode[] {
  const inner = all.filter((n) => n.z === subflow.id);
  const idOf = (id: string) => `${instance.id}-${id}`;
  const xs = inner.map((n) => n.x ?? 0), ys = inner.map((n) => n.y ?? 0);
  const [x0, y0] = [Math.min(...xs, 0), Math.min(...ys, 0)];
  const within = [...((instance as Copied)[WITHIN] ?? []), subflow.id];
  const copies = inner.map((n): Copied => ({
    ...n,
    [WITHIN]: within,
    id: idOf(n.id),
    z: instance.z,
    x: (instance.x ?? 0) + (n.x ?? 0) - x0,
    y: (instance.y ?? 0) + (n.y ?? 0) - y0,
    wires: (n.wires ?? []).map((port) => port.map(idOf)),
  }));
  const byId = new Map(copies.map((c) => [c.id, c]));
  const ins = (subflow.in as { wires?: { id: string }[] }[] | undefined) ?? [];
  const inputTargets = (ins[0]?.wires ?? []).map((w) => idOf(w.id));
  const outs = (subflow.out as { wires?: { id: string; port?: number }[] }[] | undefined) ?? [];
  outs.forEach((out, k) => {
    const targets = instance.wires?.[k] ?? [];
    for (const w of out.wires ?? []) {
      if (w.id === subflow.id) inputTargets.push(...targets); // the subflow's input wired straight to this output
      const copy = byId.get(idOf(w.id));
      if (!copy) continue;
      const port = w.port ?? 0;
      const wires = (copy.wires ??= []);
      while (wires.length <= port) wires.push([]);
      wires[port] = [...wires[port], ...targets];
    }
  });
  for (const n of all) if (n.wires) n.wires = n.wires.map((port) => port.flatMap((t) => (t === instance.id ? inputTargets : [t])));
  return copies;
}

function inlineSubflows(list: FlowNode[], resolved: Resolved[]): FlowNode[] {
  const subflows = new Map(list.filter((n) => n.type === "subflow").map((n) => [n.id, n]));
  let nodes = list;
  for (;;) {
    const instance = nodes.find((n) => n.type.startsWith("subflow:") && n.z !== undefined && !subflows.has(n.z));
    if (!instance) return nodes;
    const subflow = subflows.get(instance.type.slice("subflow:".length));
    nodes = nodes.filter((n) => n !== instance);
    if (!subflow || (instance as Copied)[WITHIN]?.includes(subflow.id)) {
      resolved.push({ node: instance, tab: instance.z, how: "not carried", why: subflow ? "the subflow contains itself" : `subflow ${instance.type.slice(8)} is not in the file` });
      for (const n of nodes) if (n.wires) n.wires = n.wires.map((port) => port.filter((t) => t !== instance.id));
      continue;
    }
    const copies = inline(instance, subflow, nodes);
    resolved.push({ node: instance, tab: instance.z, how: "resolved", why: `subflow "${subflow.name ?? subflow.id}" inlined: ${copies.length} node${copies.length === 1 ? "" : "s"} with ids starting ${instance.id}-` });
    nodes = [...nodes, ...copies];
  }
}

/** Targets with routing nodes replaced by where they lead; link calls and cross-tab links reported. */
function throughRouting(target: string, byId: Map<string, FlowNode>, seen: Set<string>): string[] {
  const n = byId.get(target);
  if (!n || !ROUTING.has(n.type)) return n ? [target] : [];
  if (seen.has(target)) return [];
  seen.add(target);
  const next = n.type === "link out" ? (n.mode === "return" ? [] : ((n.links as string[] | undefined) ?? [])) : (n.wires?.[0] ?? []);
  return next.flatMap((t) => throughRouting(t, byId, seen));
}

export function flowGraph(flows: unknown): FlowGraph {
  const resolved: Resolved[] = [];
  const list = inlineSubflows(checked(flows).map((n) => ({ ...n, wires: n.wires?.map((p) => [...p]) })), resolved);
  const tabs = new Map<string, string>();
  for (const n of list) if (n.type === "tab") tabs.set(n.id, typeof n.label === "string" && n.label ? n.label : n.id);
  const subflowIds = new Set(list.filter((n) => n.type === "subflow").map((n) => n.id));
  for (const n of list) if (n.z && !subflowIds.has(n.z) && !tabs.has(n.z)) tabs.set(n.z, n.z);
  const byId = new Map(list.map((n) => [n.id, n]));
  const nodes = new Map<string, FlowNode>();
  const configNodes = new Map<string, FlowNode>();
  for (const n of list) {
    if (n.type === "tab" || n.type === "subflow" || (n.z && subflowIds.has(n.z))) continue;
    if (!n.z) {
      configNodes.set(n.id, n);
      resolved.push({ node: n, how: "resolved", why: "a config node: its properties are inlined into each hosted Node-RED node referring to it" });
      continue;
    }
    if (ROUTING.has(n.type)) {
      const crossTab = n.type === "link out" && ((n.links as string[] | undefined) ?? []).some((l) => byId.get(l)?.z !== n.z);
      const why =
        n.type === "link out" && n.mode === "return"
          ? "a return to a link call: link calls are not carried"
          : crossTab
            ? "links to another tab: each tab is its own pipeline (join them with a connector such as nats.publish/nats.subscribe)"
            : "only routes: its wires are followed through it";
      resolved.push({ node: n, tab: n.z, how: crossTab || n.mode === "return" ? "not carried" : "resolved", why });
      continue;
    }
    const wires = (n.wires ?? []).map((port) => [...new Set(port.flatMap((t) => throughRouting(t, byId, new Set())))].filter((t) => byId.get(t)?.z === n.z));
    nodes.set(n.id, { ...n, wires });
  }
  return { tabs, nodes, configNodes, resolved };
}
