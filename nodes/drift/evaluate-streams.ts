/**
 * Synthetic streams with known drifts, for `evoflow drift eval`: the same seed gives
 * the same stream everywhere (sdk/random's seededRandom).
 *
 * Each sample is drawn from the concept in force: `gaussian` values are N(level, noise²)
 * (for ADWIN, KSWIN, Page-Hinkley); `bernoulli` values are 1 with probability `level`,
 * a 0/1 error stream (for DDM, EDDM, HDDM_A). The first concept's level is `base`, the
 * second's `base + shift`.
 *   abrupt     the level steps to the next concept at each change point
 *   gradual    over [start, end] each sample comes from the new concept with a probability
 *              rising linearly from 0 to 1 (MOA's mixture), so the drift is that interval
 *   recurring  the two concepts alternate every `period` samples
 */
import { seededRandom } from "../../sdk/random";
import type { Drift } from "./evaluate";

export type StreamKind = "gaussian" | "bernoulli";

export interface StreamOptions {
  /** Samples in the stream. */
  n?: number;
  kind?: StreamKind;
  seed?: number;
  base?: number;
  shift?: number;
  /** Standard deviation of gaussian values. */
  noise?: number;
}

export interface SyntheticStream {
  name: string;
  values: Float64Array;
  drifts: Drift[];
}

function sampler({ kind = "gaussian", seed = 42, noise = 0.1 }: StreamOptions): (level: number) => number {
  const random = seededRandom(seed);
  if (kind === "bernoulli") return (level) => (random() < level ? 1 : 0);
  // Box–Muller; 1 − u keeps the logarithm finite.
  return (level) => level + noise * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function defaults(options: StreamOptions): { n: number; base: number; shift: number } {
  const bernoulli = options.kind === "bernoulli";
  const n = options.n ?? 2000;
  if (!Number.isInteger(n) || n < 2) throw new Error(`a stream needs an integer n ≥ 2, got ${n}`);
  return { n, base: options.base ?? (bernoulli ? 0.1 : 0), shift: options.shift ?? (bernoulli ? 0.4 : 1) };
}

/** The level steps by `shift` at each change point (default: the middle). */
export function abruptStream(options: StreamOptions & { at?: number[] } = {}): SyntheticStream {
  const { n, base, shift } = defaults(options);
  const at = [...(options.at ?? [Math.floor(n / 2)])].sort((a, b) => a - b);
  const draw = sampler(options);
  const values = new Float64Array(n);
  let concept = 0;
  for (let i = 0; i < n; i++) {
    while (concept < at.length && i >= at[concept]) concept++;
    values[i] = draw(base + concept * shift);
  }
  return { name: "abrupt", values, drifts: at };
}

/** The new concept mixes in linearly over [start, end] (default: the middle fifth). */
export function gradualStream(options: StreamOptions & { start?: number; end?: number } = {}): SyntheticStream {
  const { n, base, shift } = defaults(options);
  const start = options.start ?? Math.floor(n * 0.4);
  const end = options.end ?? Math.floor(n * 0.6);
  if (!(start <= end)) throw new Error(`a gradual drift needs start ≤ end, got [${start}, ${end}]`);
  const draw = sampler(options);
  const choose = seededRandom((options.seed ?? 42) + 1);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const pNew = i < start ? 0 : i >= end ? 1 : (i - start + 1) / (end - start + 1);
    values[i] = draw(choose() < pNew ? base + shift : base);
  }
  return { name: "gradual", values, drifts: [[start, end]] };
}

/** Two concepts taking turns every `period` samples (default: n / 4). */
export function recurringStream(options: StreamOptions & { period?: number } = {}): SyntheticStream {
  const { n, base, shift } = defaults(options);
  const period = options.period ?? Math.floor(n / 4);
  if (!(Number.isInteger(period) && period > 0)) throw new Error(`period must be a positive integer, got ${period}`);
  const draw = sampler(options);
  const values = new Float64Array(n);
  const drifts: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % period === 0) drifts.push(i);
    values[i] = draw(Math.floor(i / period) % 2 ? base + shift : base);
  }
  return { name: "recurring", values, drifts };
}

export const streamGenerators = { abrupt: abruptStream, gradual: gradualStream, recurring: recurringStream } as const;
export type GeneratorName = keyof typeof streamGenerators;
