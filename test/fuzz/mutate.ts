/**
 * Seeded mutations of JSON documents (pipelines, request bodies) for the fuzz tests. Every case
 * draws from its own PRNG, seeded by (run seed, case number), so one failing case replays alone:
 * FUZZ_SEED=<seed> and the case number reproduce it exactly. Each mutation is written down as a
 * step (`set $.nodes[2].config.window = 1e300`) so a failure prints what was done, not just the result.
 * A small hand-written mutator rather than fast-check's arbitraries: the inputs are mutations of
 * real documents (the examples), which fast-check has no generator for, and shrinking is not needed
 * when each step is printed.
 */
import { jsonPath } from "../../runtime/validate";
import { seededRandom, stringHash } from "../../sdk/random";

export type Rng = () => number;

/** The run's seed: fixed, so the suite repeats; FUZZ_SEED explores others. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261207);

export function rngFor(kind: string, index: number, seed = FUZZ_SEED): Rng {
  return seededRandom(stringHash(`${kind}:${seed}:${index}`));
}

export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
export const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** `depth` levels of arrays or objects around a number: deeper than any parser or schema should walk. */
export function nested(depth: number, kind: "array" | "object"): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

const HUGE = [1e300, -1e300, 2.2e14, 4e9, -1, 0, -0, 0.5, 2 ** 53 + 2, 1e-300, 4294967296, 2147483648, -2147483649];
const PATHS = ["../../x", "/etc/passwd", "..", "../", "a/../../b", "./../x", "/", "C:\\Windows\\x", "file:///etc/passwd", "x\u0000y", "~/x", "//server/share"];
const UNICODE = ["名前", "😀", "\u0000", "\ud800", "a\u202eb", "e\u0301", "\uffff", "Ω≈ç√", " ", "\n", "\t\r"];
const NAMES = ["__proto__", "constructor", "toString", "prototype", "hasOwnProperty", "", " ", "nope", "in", "out", "0"];

/** A value a well-behaved document would not hold there. `json`: only what JSON can carry (no NaN, Infinity). */
export function weirdValue(rng: Rng, json: boolean): { value: unknown; label: string } {
  const kind = int(rng, 0, json ? 9 : 10);
  switch (kind) {
    case 0: {
      const value = pick(rng, [null, true, false, 0, "", [], {}, "x", [1, 2], { x: 1 }]);
      return { value, label: JSON.stringify(value) };
    }
    case 1:
    case 2: {
      const value = pick(rng, HUGE);
      return { value, label: String(value) };
    }
    case 3: {
      const value = pick(rng, ["NaN", "Infinity", "-Infinity", "1e300", "-1", "4e9", "0x10", "1_000", " 1", "null", "true"]);
      return { value, label: JSON.stringify(value) };
    }
    case 4: {
      const value = pick(rng, PATHS);
      return { value, label: JSON.stringify(value) };
    }
    case 5: {
      const value = pick(rng, UNICODE);
      return { value, label: JSON.stringify(value) };
    }
    case 6: {
      const length = pick(rng, [1_000, 100_000, 200_000]);
      return { value: "x".repeat(length), label: `"x" × ${length}` };
    }
    case 7: {
      const depth = pick(rng, [100, 1_000, 10_000]);
      const shape = pick(rng, ["array", "object"] as const);
      // JSON.stringify itself overflows the stack 10,000 levels down: a JSON document gets a marker toJsonText expands.
      return { value: json ? `${DEEP}${shape}:${depth}${DEEP}` : nested(depth, shape), label: `${shape}s nested ${depth} deep` };
    }
    case 8: {
      const value = pick(rng, NAMES);
      return { value, label: JSON.stringify(value) };
    }
    case 9: {
      // 20,000, not more: an array where a list of objects belongs costs a problem per element
      // (100,000 of them take seconds to list: a regression test keeps that case, this run stays fast).
      const length = pick(rng, [1_000, 20_000]);
      return { value: Array.from({ length }, (_, i) => i), label: `array of ${length} numbers` };
    }
    default: {
      const value = pick(rng, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, undefined]);
      return { value, label: String(value) };
    }
  }
}

const DEEP = "\u0001deep:";

/** The document as JSON text, deep-nesting markers expanded (see weirdValue). */
export function toJsonText(doc: unknown): string {
  return (JSON.stringify(doc) ?? "null").replace(/"\\u0001deep:(array|object):(\d+)\\u0001deep:"/g, (_m, shape: string, depth: string) => {
    const n = Number(depth);
    return shape === "array" ? `${"[".repeat(n)}1${"]".repeat(n)}` : `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;
  });
}

type Segment = string | number;
type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === "object" && v !== null;

/** Every path into the document (not into the deep values a mutation put there), root excluded. */
export function pathsOf(doc: unknown, maxDepth = 8): Segment[][] {
  const out: Segment[][] = [];
  const walk = (v: unknown, at: Segment[]) => {
    if (!isContainer(v) || at.length >= maxDepth) return;
    const keys: Segment[] = Array.isArray(v) ? v.map((_, i) => i).slice(0, 50) : Object.keys(v).slice(0, 50);
    for (const k of keys) {
      const next = [...at, k];
      out.push(next);
      walk((v as Record<Segment, unknown>)[k], next);
    }
  };
  walk(doc, []);
  return out;
}

function parentOf(doc: unknown, path: Segment[]): Container | undefined {
  let v = doc;
  for (const s of path.slice(0, -1)) {
    if (!isContainer(v)) return undefined;
    v = (v as Record<Segment, unknown>)[s];
  }
  return isContainer(v) ? v : undefined;
}

/** Sets an own property, `__proto__` included (as JSON.parse would make it), not the prototype. */
export function setOwn(target: Container, key: Segment, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function setAt(doc: unknown, path: Segment[], value: unknown): void {
  const parent = parentOf(doc, path);
  if (parent) setOwn(parent, path[path.length - 1], value);
}

export function deleteAt(doc: unknown, path: Segment[]): void {
  const parent = parentOf(doc, path);
  const key = path[path.length - 1];
  if (Array.isArray(parent) && typeof key === "number") parent.splice(key, 1);
  else if (parent) delete (parent as Record<Segment, unknown>)[key];
}

/** Generic mutations of any JSON document; returns the step's description. */
export function mutateAnywhere(doc: unknown, rng: Rng, json: boolean): string {
  const paths = pathsOf(doc);
  if (paths.length === 0) return "nothing to mutate";
  const path = pick(rng, paths);
  const op = int(rng, 0, 5);
  if (op === 0) {
    deleteAt(doc, path);
    return `delete ${jsonPath(path)}`;
  }
  if (op === 1) {
    const parent = parentOf(doc, path);
    const key = pick(rng, NAMES.filter((n) => n !== ""));
    const { value, label } = weirdValue(rng, json);
    if (parent && !Array.isArray(parent)) setOwn(parent, key, value);
    return `add ${jsonPath([...path.slice(0, -1), key])} = ${label}`;
  }
  const { value, label } = weirdValue(rng, json);
  setAt(doc, path, value);
  return `set ${jsonPath(path)} = ${label}`;
}

/** The document as JSON text for a failure message, cut short. */
export function preview(doc: unknown, max = 1_500): string {
  let text: string;
  try {
    text = JSON.stringify(doc, (_k, v) => (typeof v === "string" && v.length > 200 ? `${v.slice(0, 40)}…(${v.length} chars)` : v)) ?? String(doc);
  } catch (err) {
    text = `(not serialisable: ${(err as Error).message})`;
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}
