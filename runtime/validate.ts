/**
 * The type checker behind `evoflow validate`, the editor and deploy. It reports
 * every problem it can find at once, each with the JSON path it concerns, and on
 * success returns the compiled graph the engine runs.
 */
import type { z } from "zod";
import { inputsOf, outputsOf, type NodeDefinition } from "../sdk/contract";
import type { NodeTypes } from "./node-types";
import { describePortType, incompatibility, type PortType, type Ports } from "../sdk/ports";
import { requirementProblems, unknownTypeMessage, unownedNamespaceHint } from "./requires";
import { edgeId, endpointPattern, pipelineSchema, queueSchema, splitEndpoint, type Pipeline } from "./schema";
import type { EdgeInfo } from "./transport/transport";
import type { Problem } from "../sdk/api-types";

export type { Problem };

export interface CompiledNode {
  id: string;
  def: NodeDefinition;
  config: unknown;
  inputs: Ports;
  /** Output types with `sameAs` resolved against what feeds the node. */
  outputs: Ports;
  placement?: string;
}

export interface CompiledPipeline {
  pipeline: Pipeline;
  nodes: Map<string, CompiledNode>;
  edges: EdgeInfo[];
}

export type ValidationResult = { ok: true; compiled: CompiledPipeline; problems: [] } | { ok: false; problems: Problem[] };

export function jsonPath(segments: readonly PropertyKey[]): string {
  let out = "$";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (typeof s === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}

/** Adds to the list under `key` in place (copying it each time is quadratic in the edges of one node). */
function appendTo<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

/** Appends one by one: `push(...list)` passes each problem as an argument, and 200,000 of them overflow the stack. */
function append(problems: Problem[], more: readonly Problem[]): void {
  for (const p of more) problems.push(p);
}

function zodProblems(error: z.ZodError, prefix: PropertyKey[]): Problem[] {
  return error.issues.map((i) => ({ path: jsonPath([...prefix, ...i.path]), message: i.message }));
}

interface RawNode {
  index: number;
  id: string;
  def?: NodeDefinition;
  config?: unknown;
  inputs?: Ports;
  outputs?: Ports;
  placement?: string;
  scaled?: boolean;
}

interface RawEdge {
  index: number;
  id: string;
  from: { node: string; port: string };
  to: { node: string; port: string };
  mode: "sync" | "async";
  queue?: unknown;
  ok: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function validatePipeline(input: unknown, types: NodeTypes): ValidationResult {
  const problems: Problem[] = [];
  const parsed = pipelineSchema.safeParse(input);
  if (!parsed.success) append(problems, zodProblems(parsed.error, []));
  if (!isObject(input)) return { ok: false, problems };

  // Semantic checks run on the raw input too, so one run reports schema and graph problems together.
  for (const { name, message } of requirementProblems(input.requires, types)) problems.push({ path: jsonPath(["requires", name]), message });
  const nodes = new Map<string, RawNode>();
  const rawNodes = Array.isArray(input.nodes) ? input.nodes : [];
  rawNodes.forEach((n, index) => {
    if (!isObject(n) || typeof n.id !== "string" || typeof n.type !== "string") return;
    const first = nodes.get(n.id);
    if (first) {
      problems.push({ path: jsonPath(["nodes", index, "id"]), message: `duplicate node id "${n.id}" (first at ${jsonPath(["nodes", first.index])})` });
      return;
    }
    const node: RawNode = { index, id: n.id, placement: typeof n.placement === "string" ? n.placement : undefined, scaled: n.scale !== undefined };
    nodes.set(n.id, node);
    const def = types.get(n.type);
    if (!def) {
      const message = unknownTypeMessage(n.type, input.requires, types) ?? `unknown node type "${n.type}"${suggest(n.type, types)}${unownedNamespaceHint(n.type, types)}`;
      problems.push({ path: jsonPath(["nodes", index, "type"]), message });
      return;
    }
    node.def = def;
    const config = def.config.safeParse(n.config ?? {});
    if (!config.success) {
      append(problems, zodProblems(config.error, ["nodes", index, "config"]));
      return;
    }
    node.config = config.data;
    node.inputs = inputsOf(def, config.data);
    node.outputs = outputsOf(def, config.data);
  });

  const edges: RawEdge[] = [];
  const edgeIds = new Map<string, number>();
  const rawEdges = Array.isArray(input.edges) ? input.edges : [];
  rawEdges.forEach((e, index) => {
    if (!isObject(e) || typeof e.from !== "string" || typeof e.to !== "string") return;
    if (!endpointPattern.test(e.from) || !endpointPattern.test(e.to)) return; // the schema already said so
    const id = edgeId({ id: typeof e.id === "string" ? e.id : undefined, from: e.from, to: e.to });
    const firstIndex = edgeIds.get(id);
    if (firstIndex !== undefined)
      problems.push({ path: jsonPath(["edges", index, "id"]), message: `duplicate edge id "${id}" (first at ${jsonPath(["edges", firstIndex])})` });
    else edgeIds.set(id, index);
    const mode = e.mode === "async" ? "async" : "sync";
    const edge: RawEdge = { index, id, from: splitEndpoint(e.from), to: splitEndpoint(e.to), mode, queue: e.queue, ok: true };
    edges.push(edge);
    if (mode === "sync" && e.queue !== undefined)
      problems.push({ path: jsonPath(["edges", index, "queue"]), message: "queue settings apply to async edges only" });
    for (const end of ["from", "to"] as const) {
      const { node: nodeId, port } = edge[end];
      const node = nodes.get(nodeId);
      if (!node) {
        problems.push({ path: jsonPath(["edges", index, end]), message: `no node "${nodeId}" in the pipeline` });
        edge.ok = false;
        continue;
      }
      const ports = end === "from" ? node.outputs : node.inputs;
      if (!ports) {
        edge.ok = false; // the node's own problem is reported already
        continue;
      }
      if (!Object.hasOwn(ports, port)) { // not `in`: "toString" is in every object
        const kind = end === "from" ? "output" : "input";
        const names = Object.keys(ports);
        problems.push({
          path: jsonPath(["edges", index, end]),
          message: `node "${nodeId}" (${node.def!.type}) has no ${kind} port "${port}"; its ${kind}s: ${names.length ? names.join(", ") : "none"}`,
        });
        edge.ok = false;
      }
    }
  });

  resolveSameAs(nodes, edges);
  for (const e of edges) {
    if (!e.ok) continue;
    const fromType = nodes.get(e.from.node)!.outputs![e.from.port];
    const toType = nodes.get(e.to.node)!.inputs![e.to.port];
    const why = fromType.kind === "sameAs" ? undefined : incompatibility(fromType, toType);
    if (why)
      problems.push({
        path: jsonPath(["edges", e.index]),
        message: `${e.from.node}.${e.from.port} (${describePortType(fromType)}) cannot feed ${e.to.node}.${e.to.port} (${describePortType(toType)}): ${why}`,
      });
  }

  append(problems, scaleProblems(nodes, edges));
  append(problems, syncFanInProblems(nodes, edges));
  append(problems, syncCycleProblems(edges));
  append(problems, duplicateEntrypointProblems(nodes, typeof input.name === "string" ? input.name : ""));
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };

  const pipeline = parsed.data;
  const compiledNodes = new Map<string, CompiledNode>();
  for (const n of nodes.values())
    compiledNodes.set(n.id, { id: n.id, def: n.def!, config: n.config, inputs: n.inputs!, outputs: n.outputs!, placement: n.placement });
  const compiledEdges: EdgeInfo[] = edges.map((e) => ({
    id: e.id,
    pipeline: pipeline.name,
    from: e.from,
    to: e.to,
    mode: e.mode,
    queue: queueSchema.parse(e.queue ?? {}),
  }));
  return { ok: true, problems: [], compiled: { pipeline, nodes: compiledNodes, edges: compiledEdges } };
}

/** A scaled node runs only in the supervisor's workers (a placement keeps it off the coordinator) and scales on the lag of an async input. */
function scaleProblems(nodes: Map<string, RawNode>, edges: RawEdge[]): Problem[] {
  const problems: Problem[] = [];
  for (const n of nodes.values()) {
    if (!n.scaled) continue;
    const path = jsonPath(["nodes", n.index, "scale"]);
    if (n.placement === undefined) problems.push({ path, message: `node "${n.id}" is scaled but has no placement: the coordinator would run it too (give it a placement, the worker group of its replicas)` });
    if (!edges.some((e) => e.mode === "async" && e.to.node === n.id))
      problems.push({ path, message: `node "${n.id}" is scaled but no async edge feeds it: replicas follow the lag of its async inputs` });
  }
  return problems;
}

/**
 * Replaces `sameAs(input)` outputs with the type that actually feeds that input, through chains of
 * such nodes. A worklist: a node is looked at again only when something feeding it was resolved,
 * so a chain listed last-node-first costs its length, not its length squared per round.
 */
function resolveSameAs(nodes: Map<string, RawNode>, edges: RawEdge[]): void {
  const feeder = new Map<string, RawEdge>(); // "node.port" → the first edge into it
  const outgoing = new Map<string, RawEdge[]>();
  for (const e of edges) {
    if (!e.ok) continue;
    const input = `${e.to.node}.${e.to.port}`;
    if (!feeder.has(input)) feeder.set(input, e);
    appendTo(outgoing, e.from.node, e);
  }
  const queue = [...nodes.values()];
  while (queue.length > 0) {
    const n = queue.pop()!;
    if (!n.outputs || !n.inputs) continue;
    let changed = false;
    for (const [name, t] of Object.entries(n.outputs)) {
      if (t.kind !== "sameAs") continue;
      const e = feeder.get(`${n.id}.${t.input}`);
      // Fed: the feeding output once it is resolved itself; unfed: the input's own declared type.
      const resolved = e ? nodes.get(e.from.node)?.outputs?.[e.from.port] : n.inputs[t.input];
      if (resolved && resolved.kind !== "sameAs") {
        n.outputs = { ...n.outputs, [name]: resolved };
        changed = true;
      }
    }
    if (changed) for (const e of outgoing.get(n.id) ?? []) queue.push(nodes.get(e.to.node)!);
  }
}

/** A sync entry point name a node claims (through its type's `entrypoints` declaration). */
export interface EntrypointClaim {
  name: string;
  node: string;
  /** JSON path of the node's config, where the name comes from. */
  path: string;
}

function claimsOf(nodes: Iterable<{ index: number; id: string; def?: NodeDefinition; config?: unknown }>, pipeline: string): EntrypointClaim[] {
  const claims: EntrypointClaim[] = [];
  for (const n of nodes)
    if (n.def?.entrypoints && n.config !== undefined)
      for (const name of n.def.entrypoints(n.config, pipeline)) claims.push({ name, node: n.id, path: jsonPath(["nodes", n.index, "config"]) });
  return claims;
}

/** The entry points a valid pipeline's nodes claim: the runtime refuses a deploy that claims one another pipeline serves. */
export function entrypointClaims(compiled: CompiledPipeline): EntrypointClaim[] {
  return claimsOf(compiled.pipeline.nodes.map((n, index) => ({ ...compiled.nodes.get(n.id), index, id: n.id })), compiled.pipeline.name);
}

// Two nodes serving one entry point name would leave the runtime to pick one of them per request.
function duplicateEntrypointProblems(nodes: Map<string, RawNode>, pipeline: string): Problem[] {
  const first = new Map<string, EntrypointClaim>();
  const problems: Problem[] = [];
  for (const claim of claimsOf(nodes.values(), pipeline)) {
    const earlier = first.get(claim.name);
    if (!earlier) first.set(claim.name, claim);
    else
      problems.push({
        path: claim.path,
        message: `nodes "${earlier.node}" (${earlier.path}) and "${claim.node}" (${claim.path}) both claim entry point "${claim.name}": give one another name`,
      });
  }
  return problems;
}

function syncFanInProblems(nodes: Map<string, RawNode>, edges: RawEdge[]): Problem[] {
  const problems: Problem[] = [];
  const byInput = new Map<string, RawEdge[]>();
  for (const e of edges) {
    if (!e.ok || e.mode !== "sync") continue;
    const def = nodes.get(e.to.node)?.def;
    if (def?.acceptsSync === false)
      problems.push({
        path: jsonPath(["edges", e.index, "mode"]),
        message: `${def.type} gathers many messages into one, so a sync caller could never get its answer: make edge "${e.id}" async`,
      });
    if (def?.joinsSync) continue;
    const key = `${e.to.node}.${e.to.port}`;
    appendTo(byInput, key, e);
  }
  for (const [input, list] of byInput) {
    if (list.length < 2) continue;
    // At most 10 ids in each message: 100,000 edges into one input would make each of 100,000 messages list them all.
    const ids = list.slice(0, 10).map((x) => x.id).join(", ") + (list.length > 10 ? `, … ${list.length - 10} more` : "");
    for (const e of list.slice(1))
      problems.push({
        path: jsonPath(["edges", e.index]),
        message: `input ${input} is fed by ${list.length} sync edges (${ids}) without a join: put a control.join before it or make all but one async`,
      });
  }
  return problems;
}

function syncCycleProblems(edges: RawEdge[]): Problem[] {
  const next = new Map<string, RawEdge[]>();
  for (const e of edges) if (e.ok && e.mode === "sync") appendTo(next, e.from.node, e);
  const state = new Map<string, "open" | "done">();
  const problems: Problem[] = [];
  // Depth-first with a stack of its own, not recursion: a chain of thousands of sync edges
  // must be checked, not overflow the call stack. `via` is the edge each frame was entered by.
  for (const root of next.keys()) {
    if (state.has(root)) continue;
    state.set(root, "open");
    const frames: { node: string; next: number; via?: RawEdge }[] = [{ node: root, next: 0 }];
    while (frames.length > 0) {
      const top = frames[frames.length - 1];
      const out = next.get(top.node) ?? [];
      if (top.next >= out.length) {
        state.set(top.node, "done");
        frames.pop();
        continue;
      }
      const e = out[top.next++];
      const s = state.get(e.to.node);
      if (s === "open") {
        const path = frames.slice(1).map((f) => f.via!);
        const start = path.findIndex((x) => x.from.node === e.to.node);
        const cycle = [...(start < 0 ? [] : path.slice(start)), e];
        problems.push({
          path: jsonPath(["edges", e.index]),
          message: `sync edges form a cycle: ${[...cycle.map((x) => x.from.node), e.to.node].join(" → ")}; a request would never return (make one edge async)`,
        });
      } else if (s === undefined) {
        state.set(e.to.node, "open");
        frames.push({ node: e.to.node, next: 0, via: e });
      }
    }
  }
  return problems;
}

function suggest(type: string, types: NodeTypes): string {
  const close = types.list().map((d) => d.type).filter((t) => t.endsWith(type.split(".").pop() ?? type) || t.startsWith(type));
  return close.length ? `; did you mean ${close.slice(0, 3).join(", ")}?` : "";
}
