/**
 * Canonical pipeline JSON, so Git diffs show only real changes: known keys in a
 * fixed order, other keys (node configs) sorted, nodes sorted by id, edges by
 * their ends, positions rounded to whole pixels, 2-space indent, newline at end.
 * Pure (no Node.js APIs): the editor's export uses this same function, and fillRequires below.
 */
const TOP_KEYS = ["$schema", "apiVersion", "name", "description", "requires", "settings", "nodes", "edges"];
const NODE_KEYS = ["id", "type", "title", "placement", "scale", "position", "config"];
const EDGE_KEYS = ["id", "from", "to", "mode", "queue"];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function ordered(obj: Record<string, unknown>, first: readonly string[], inner: (key: string, v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of first) if (obj[k] !== undefined) out[k] = inner(k, obj[k]);
  for (const k of Object.keys(obj).filter((k) => !first.includes(k)).sort()) if (obj[k] !== undefined) out[k] = inner(k, obj[k]);
  return out;
}

function sortedDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedDeep);
  if (isPlainObject(v)) return ordered(v, [], (_k, x) => sortedDeep(x));
  return v;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function canonicalPipeline(pipeline: unknown): unknown {
  if (!isPlainObject(pipeline)) return pipeline;
  return ordered(pipeline, TOP_KEYS, (key, value) => {
    if (key === "nodes" && Array.isArray(value))
      return value
        .map((n) =>
          isPlainObject(n)
            ? ordered(n, NODE_KEYS, (k, x) =>
                k === "position" && isPlainObject(x) ? { x: Math.round(Number(x.x)), y: Math.round(Number(x.y)) } : sortedDeep(x),
              )
            : n,
        )
        .sort((a, b) => byString(String((a as { id?: unknown }).id ?? ""), String((b as { id?: unknown }).id ?? "")));
    if (key === "edges" && Array.isArray(value))
      return value
        .map((e) => (isPlainObject(e) ? ordered(e, EDGE_KEYS, (_k, x) => sortedDeep(x)) : e))
        .sort((a, b) => {
          const ea = a as { from?: unknown; to?: unknown; id?: unknown };
          const eb = b as { from?: unknown; to?: unknown; id?: unknown };
          return byString(`${ea.from}\u0000${ea.to}\u0000${ea.id ?? ""}`, `${eb.from}\u0000${eb.to}\u0000${eb.id ?? ""}`);
        });
    return sortedDeep(value);
  });
}

/** The canonical text of a pipeline file. */
export function formatPipeline(pipeline: unknown): string {
  return `${JSON.stringify(canonicalPipeline(pipeline) as Json, null, 2)}\n`;
}

/** The package giving a node type, with the range `requires` lists for it (none for Evoflow's own). */
export interface TypeRequirement {
  package: string;
  range?: string;
}

/** Where fillRequires learns the packages: the runtime's node types (runtime/node-types.ts). */
export interface RequirementSource {
  requirementOf(type: string): TypeRequirement | undefined;
  /** The packages installed here that `requires` lists (not Evoflow's own). */
  requirablePackages(): ReadonlySet<string>;
}

/**
 * The pipeline with `requires` (runtime/requires.ts) filled from the node types its nodes use, as
 * `evoflow fmt` and the editor's export write it. Each package giving a used type is listed, with
 * the range already written for it, else `range`; an entry for one of the packages installed here
 * that no node uses any more goes; others stay (a package not installed here may well be used).
 * No entry left: no `requires` key, so a pipeline of Evoflow's own types keeps its form.
 */
export function fillRequires(pipeline: unknown, types: RequirementSource): unknown {
  if (!isPlainObject(pipeline) || !Array.isArray(pipeline.nodes)) return pipeline;
  // A `requires` that is not an object is left for validate to report, not replaced.
  if (pipeline.requires !== undefined && !isPlainObject(pipeline.requires)) return pipeline;
  const written = pipeline.requires ?? {};
  const used = new Map<string, string>();
  for (const node of pipeline.nodes) {
    const req = isPlainObject(node) && typeof node.type === "string" ? types.requirementOf(node.type) : undefined;
    if (req?.range) used.set(req.package, req.range);
  }
  // No prototype: a key "__proto__" in a file is an entry like any (validate then refuses its name).
  const requires: Record<string, unknown> = Object.create(null);
  const installed = types.requirablePackages();
  for (const [name, range] of Object.entries(written)) if (used.has(name) || !installed.has(name)) requires[name] = range;
  for (const [name, range] of used) requires[name] ??= range;
  const { requires: _old, ...rest } = pipeline;
  return Object.keys(requires).length ? { ...rest, requires } : rest;
}
