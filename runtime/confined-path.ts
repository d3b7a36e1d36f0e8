/**
 * Files and folders named in node configs, confined to the pipeline's data folder.
 *
 * The pipeline's data folder is `<runtime data folder>/<pipeline name>` (e.g.
 * `.evoflow/hello-http/`): every config path is relative to it, so `requests.jsonl` in
 * pipelines/hello-http.json is `.evoflow/hello-http/requests.jsonl`. Nodes keep their own
 * state one level below, in `<pipeline>/<node id>/` (NodeContext.dataDir).
 *
 * Three checks, one declaration (`configPath`):
 * - validate (and so deploy): the string itself — no absolute path, no `..` that climbs out.
 *   It is a refinement of the field's own zod schema, so wherever a config is parsed the
 *   check runs, and zod reports it at the field's JSON path through nested objects, arrays,
 *   unions and optionals;
 * - deploy: the paths in the parsed config (found by walking it against the schema,
 *   `configPathValues`) resolved on disk, symlinks followed, must stay inside;
 * - run time: a node opens a path only through `NodeContext.resolvePath` (`resolveConfined`),
 *   which resolves it again when it opens it, so a symlink planted after deploy is refused.
 * What is left: a link swapped in between the check and the open (a race with someone who can
 * already write into the data folder) is not covered; `O_NOFOLLOW` on every component would be.
 */
import * as fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { confinedPathProblem, pathMetaOf, type PathMeta, type ResolvePathOptions } from "../sdk/config-path";

export class ConfinedPathError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`path "${path}": ${reason}`);
  }
}

type Def = { type: string } & Record<string, unknown>;
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Schemas that wrap one other schema (and validate the same value). */
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "catch", "readonly", "nonoptional"]);

export interface PathValue {
  at: PropertyKey[];
  value: string;
  meta: PathMeta;
}

/** The path fields present in a config that parsed against `schema`, with where they are. */
export const configPathValues = (schema: z.ZodType, config: unknown): PathValue[] => configFieldValues(schema, config, pathMetaOf);

/**
 * The string values of the fields `metaOf` marks (path fields, secret fields) present in a
 * config that parsed against `schema`, with where they are.
 */
export function configFieldValues<M>(schema: z.ZodType, config: unknown, metaOf: (s: z.ZodType) => M | undefined, at: PropertyKey[] = []): { at: PropertyKey[]; value: string; meta: M }[] {
  const walk = (s: z.ZodType, v: unknown, where: PropertyKey[]) => configFieldValues(s, v, metaOf, where);
  const meta = metaOf(schema);
  if (meta) return typeof config === "string" ? [{ at, value: config, meta }] : [];
  const def = defOf(schema);
  if (WRAPPERS.has(def.type)) return walk(def.innerType as z.ZodType, config, at);
  switch (def.type) {
    case "pipe": {
      // A transform's output is not the input's shape: walk the input side then.
      const out = def.out as z.ZodType;
      return walk(defOf(out).type === "transform" ? (def.in as z.ZodType) : out, config, at);
    }
    case "lazy":
      return walk((def.getter as () => z.ZodType)(), config, at);
    case "object": {
      if (!isObject(config)) return [];
      const shape = def.shape as Record<string, z.ZodType>;
      return Object.entries(config).flatMap(([k, v]) => {
        const field = shape[k] ?? (def.catchall as z.ZodType | undefined);
        return field ? walk(field, v, [...at, k]) : [];
      });
    }
    case "record":
      return isObject(config) ? Object.entries(config).flatMap(([k, v]) => walk(def.valueType as z.ZodType, v, [...at, k])) : [];
    case "array":
      return Array.isArray(config) ? config.flatMap((v, i) => walk(def.element as z.ZodType, v, [...at, i])) : [];
    case "tuple": {
      if (!Array.isArray(config)) return [];
      const items = def.items as z.ZodType[];
      return config.flatMap((v, i) => {
        const item = items[i] ?? (def.rest as z.ZodType | undefined);
        return item ? walk(item, v, [...at, i]) : [];
      });
    }
    case "union": {
      // The option the value is (as zod picked it when parsing).
      const option = (def.options as z.ZodType[]).find((o) => o.safeParse(config).success);
      return option ? walk(option, config, at) : [];
    }
    case "intersection":
      return [...walk(def.left as z.ZodType, config, at), ...walk(def.right as z.ZodType, config, at)];
    default:
      return [];
  }
}

/** A path field a schema declares: where it is, and a config fragment reaching it. */
export interface PathField {
  /** Dotted, as the editor form names fields: `source.path`, `files[].path`. */
  name: string;
  /** The JSON path segments of the field in `place(value)`'s result. */
  at: PropertyKey[];
  meta: PathMeta;
  /** The smallest config holding `value` in this field (union discriminators filled in). */
  place(value: string): unknown;
}

/**
 * Every path field a schema declares, whether or not a config uses it: what tests enumerate
 * (so a new path field is covered without touching them) and what `evoflow nodes` lists.
 */
export function configPathFields(schema: z.ZodType): PathField[] {
  const fields: PathField[] = [];
  const visit = (s: z.ZodType, at: PropertyKey[], name: string[], place: (v: unknown) => unknown, seen: Set<z.ZodType>): void => {
    if (seen.has(s)) return; // a recursive (lazy) schema
    const meta = pathMetaOf(s);
    if (meta) {
      fields.push({ name: name.join("."), at, meta, place });
      return;
    }
    const next = new Set(seen).add(s);
    const def = defOf(s);
    if (WRAPPERS.has(def.type)) return visit(def.innerType as z.ZodType, at, name, place, next);
    switch (def.type) {
      case "pipe":
        return visit(def.in as z.ZodType, at, name, place, next);
      case "lazy":
        return visit((def.getter as () => z.ZodType)(), at, name, place, next);
      case "object":
        for (const [k, field] of Object.entries(def.shape as Record<string, z.ZodType>))
          visit(field, [...at, k], [...name, k], (v) => place({ [k]: v }), next);
        return;
      case "record":
        return visit(def.valueType as z.ZodType, [...at, "x"], [...name, "x"], (v) => place({ x: v }), next);
      case "array": {
        const last = name.length ? [...name.slice(0, -1), `${name.at(-1)}[]`] : ["[]"];
        return visit(def.element as z.ZodType, [...at, 0], last, (v) => place([v]), next);
      }
      case "union": {
        const discriminator = def.discriminator as string | undefined;
        for (const option of def.options as z.ZodType[]) {
          const tag = discriminator ? literalOf(option, discriminator) : undefined;
          visit(option, at, name, tag === undefined ? place : (v) => place(isObject(v) ? { [discriminator!]: tag, ...v } : v), next);
        }
        return;
      }
      case "intersection":
        visit(def.left as z.ZodType, at, name, place, next);
        return visit(def.right as z.ZodType, at, name, place, next);
    }
  };
  visit(schema, [], [], (v) => v, new Set());
  return fields;
}

/** The value a discriminated union's option fixes its discriminator to. */
function literalOf(option: z.ZodType, key: string): unknown {
  const field = (defOf(option).shape as Record<string, z.ZodType> | undefined)?.[key];
  if (!field) return undefined;
  const def = defOf(field);
  // z.literal keeps `values`, z.enum `entries`.
  return (def.values as unknown[] | undefined)?.[0] ?? Object.values((def.entries as Record<string, unknown> | undefined) ?? {})[0];
}

/**
 * A config path as the real absolute path to open: relative to `root` (the pipeline's data
 * folder), symlinks followed — of the file itself, or of its nearest existing parent for one
 * not yet made — and refused with a ConfinedPathError if that leaves `root`.
 */
export async function resolveConfined(root: string, p: string, options: ResolvePathOptions = {}): Promise<string> {
  const problem = confinedPathProblem(p);
  if (problem) throw new ConfinedPathError(p, problem);
  try {
    return await resolveOnDisk(root, p, options);
  } catch (err) {
    // The file system's own refusals (a name too long, a file where a folder should be…) concern this path too.
    throw err instanceof ConfinedPathError ? err : new ConfinedPathError(p, (err as Error).message);
  }
}

async function resolveOnDisk(root: string, p: string, options: ResolvePathOptions): Promise<string> {
  await fs.mkdir(root, { recursive: true });
  const realRoot = await fs.realpath(root);
  let existing = path.resolve(root, p);
  const missing: string[] = [];
  let real: string;
  for (;;) {
    try {
      real = await fs.realpath(existing);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      // A link whose target is missing: writing through it would create the target, wherever it points.
      if (await fs.lstat(existing).then((s) => s.isSymbolicLink(), () => false))
        throw new ConfinedPathError(p, "it goes through a symbolic link whose target does not exist");
      if (options.mustExist) throw new ConfinedPathError(p, "no such file or folder in the pipeline's data folder");
      missing.unshift(path.basename(existing));
      existing = path.dirname(existing);
    }
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep))
    throw new ConfinedPathError(p, "it leaves the pipeline's data folder through a symbolic link");
  const resolved = path.join(real, ...missing);
  if (options.forWrite && missing.length > 1) await fs.mkdir(path.dirname(resolved), { recursive: true });
  return resolved;
}

/** The pipeline's data folder inside a runtime's data folder. */
export function pipelineDataDir(runtimeDataDir: string, pipeline: string): string {
  return path.join(runtimeDataDir, pipeline);
}
