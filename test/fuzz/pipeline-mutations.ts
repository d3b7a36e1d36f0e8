/**
 * Mutations that know a pipeline's shape: node configs set field by field from each type's own
 * schema, settings and queue sizes, sync cycles, duplicate ids, unknown types and ports, path
 * fields sent outside the data folder. Mixed with the generic ones of mutate.ts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { NodeTypes } from "../../runtime/node-types";
import { int, mutateAnywhere, pick, setOwn, weirdValue, type Rng } from "./mutate";

interface RawPipeline {
  name?: unknown;
  nodes: { id: string; type: string; config?: Record<string, unknown> }[];
  edges: { id?: string; from: string; to: string; mode?: string; queue?: unknown }[];
  settings?: Record<string, unknown>;
}

const root = join(import.meta.dirname, "../..");
export const examples: { file: string; pipeline: RawPipeline }[] = readdirSync(join(root, "pipelines"))
  .filter((f) => f.endsWith(".json") && !f.endsWith(".test.json"))
  .sort()
  .map((file) => ({ file, pipeline: JSON.parse(readFileSync(join(root, "pipelines", file), "utf8")) }));

const SETTINGS = ["tapCapacity", "tapBytes", "traceCapacity", "traceBytes", "deadLetterCapacity"];
const QUEUE_SIZES = [2.2e14, 4e9, 1e300, -1, 0, 1.5, 1e6];
const OVERFLOWS = ["block", "drop-oldest", "drop-newest", "nope", ""];
const TYPES_UNKNOWN = ["io.nope", "nope", "", "IO.HTTP", "__proto__", "constructor", "toString", "io.", "io.http "];

/** The config fields a node type's schema names (zod objects only). */
function configKeys(types: NodeTypes, type: string): string[] {
  const schema = types.get(type)?.config;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function nodeOf(p: RawPipeline, rng: Rng) {
  const nodes = p.nodes.filter((n) => typeof n === "object" && n !== null && typeof n.type === "string");
  return nodes.length ? pick(rng, nodes) : undefined;
}

const endpointNode = (endpoint: string) => endpoint.split(".")[0];

/** One pipeline-aware mutation (or, a third of the time, a generic one); returns its description. */
export function mutatePipelineOnce(p: RawPipeline, rng: Rng, types: NodeTypes, json: boolean): string {
  if (!Array.isArray(p.nodes) || !Array.isArray(p.edges) || rng() < 0.33) return mutateAnywhere(p, rng, json);
  const op = int(rng, 0, 11);
  const node = nodeOf(p, rng);
  // Earlier steps may have left edges that are not objects with string ends: those are skipped here.
  const edges = p.edges.filter((e) => typeof e === "object" && e !== null && typeof e.from === "string" && typeof e.to === "string");
  const edge = edges.length ? pick(rng, edges) : undefined;
  switch (op) {
    case 0:
    case 1: {
      // A field of the node's own config schema (window, capacity, path…) set to a weird value.
      if (!node) break;
      const keys = configKeys(types, node.type);
      if (!keys.length) break;
      const key = pick(rng, keys);
      const { value, label } = weirdValue(rng, json);
      node.config = node.config && typeof node.config === "object" ? node.config : {};
      setOwn(node.config, key, value);
      return `set node ${node.id} config.${key} = ${label}`;
    }
    case 2: {
      const key = pick(rng, SETTINGS);
      const value = pick(rng, [...QUEUE_SIZES, "NaN", "Infinity"]);
      p.settings = { ...(p.settings ?? {}), [key]: value };
      return `set settings.${key} = ${JSON.stringify(value)}`;
    }
    case 3: {
      if (!edge) break;
      const capacity = pick(rng, [...QUEUE_SIZES, "NaN", "Infinity"]);
      const overflow = pick(rng, OVERFLOWS);
      edge.mode = "async";
      edge.queue = { capacity, overflow };
      return `edge ${edge.from}->${edge.to}: async, queue ${JSON.stringify(edge.queue)}`;
    }
    case 4: {
      // A sync cycle: the edge back from its target to its source, or a node feeding itself.
      if (!edge) break;
      const back = rng() < 0.5;
      const from = back ? `${endpointNode(edge.to)}.${pick(rng, ["out", ...edges.filter((e) => endpointNode(e.from) === endpointNode(edge.to)).map((e) => e.from.split(".")[1])])}` : edge.from;
      const to = back ? edge.from.replace(/\.[^.]*$/, ".in") : `${endpointNode(edge.from)}.in`;
      p.edges.push({ from, to, mode: "sync" });
      return `add sync edge ${from}->${to}`;
    }
    case 5: {
      if (!node) break;
      // The same id, or a copy under a new one (two io.http nodes then claim one entry point).
      const id = rng() < 0.5 ? node.id : `${node.id}_copy`;
      p.nodes.push({ ...node, id }); // shallow: a deep value from an earlier step would overflow a JSON round trip
      return `duplicate node ${node.id} as ${id}`;
    }
    case 6: {
      if (!edge) break;
      p.edges.push({ ...edge });
      return `duplicate edge ${edge.from}->${edge.to}`;
    }
    case 7: {
      if (!node) break;
      const type = pick(rng, [...TYPES_UNKNOWN, pick(rng, types.list()).type]);
      node.type = type;
      return `node ${node.id} type = ${JSON.stringify(type)}`;
    }
    case 8: {
      if (!edge) break;
      const end = pick(rng, ["from", "to"] as const);
      const port = pick(rng, ["nope", "__proto__", "constructor", "toString", "", "in.out", "0"]);
      edge[end] = `${endpointNode(edge[end])}.${port}`;
      return `edge ${end} = ${JSON.stringify(edge[end])}`;
    }
    case 9: {
      if (!edge) break;
      const end = pick(rng, ["from", "to"] as const);
      edge[end] = pick(rng, ["ghost.in", "ghost.out", "__proto__.in", "a", "", ".", "a..b", "名前.in"]);
      return `edge ${end} = ${JSON.stringify(edge[end])}`;
    }
    case 10: {
      if (!edge) break;
      edge.mode = edge.mode === "async" ? "sync" : "async";
      return `edge ${edge.from}->${edge.to} mode = ${edge.mode}`;
    }
    case 11: {
      // Any config field whose name says it is a file or folder, or a new `path`, outside the data folder.
      if (!node) break;
      const keys = configKeys(types, node.type).filter((k) => /path|dir|folder|file/i.test(k));
      const key = keys.length ? pick(rng, keys) : "path";
      const value = pick(rng, ["../../x", "/etc/passwd", "../../../../outside.jsonl", "a/../../b", "/tmp/x"]);
      node.config = node.config && typeof node.config === "object" ? node.config : {};
      setOwn(node.config, key, value);
      return `set node ${node.id} config.${key} = ${JSON.stringify(value)}`;
    }
  }
  return mutateAnywhere(p, rng, json);
}

// Sizes an absurd value would not reach but a large plausible one does: these pass a schema
// without bounds and then decide how much memory or time a node takes.
const PLAUSIBLE = [0, 1, -1, 0.5, 100, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 2 ** 31 - 1, 2 ** 32, 1e12, 1e15];

/** The config fields that are numbers (under optional/default wrappers). */
function numericKeys(types: NodeTypes, type: string): string[] {
  const schema = types.get(type)?.config;
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>)
    .filter(([, field]) => {
      let inner = field as unknown as { _zod: { def: { type: string; innerType?: unknown } } };
      while (inner._zod.def.innerType) inner = inner._zod.def.innerType as typeof inner;
      return inner._zod.def.type === "number";
    })
    .map(([key]) => key);
}

/** One numeric config field or setting set to a plausible-looking size: more of these deploy than of the wild ones. */
function mutateSize(p: RawPipeline, rng: Rng, types: NodeTypes): string {
  const value = pick(rng, PLAUSIBLE);
  const node = Array.isArray(p.nodes) ? nodeOf(p, rng) : undefined;
  const keys = node ? numericKeys(types, node.type) : [];
  if (!node || keys.length === 0 || rng() < 0.2) {
    const key = pick(rng, SETTINGS);
    p.settings = { ...(p.settings ?? {}), [key]: value };
    return `set settings.${key} = ${value}`;
  }
  const key = pick(rng, keys);
  node.config = node.config && typeof node.config === "object" ? node.config : {};
  setOwn(node.config, key, value);
  return `set node ${node.id} config.${key} = ${value}`;
}

/** A mutated copy of `base`: 1 to `max` steps; `sizes`: only plausible sizes in configs and settings. */
export function mutatePipeline(base: RawPipeline, rng: Rng, types: NodeTypes, options: { json: boolean; max: number; sizes?: boolean }): { pipeline: RawPipeline; steps: string[] } {
  const pipeline = structuredClone(base);
  const steps = Array.from({ length: int(rng, 1, options.max) }, () => (options.sizes ? mutateSize(pipeline, rng, types) : mutatePipelineOnce(pipeline, rng, types, options.json)));
  return { pipeline, steps };
}
