/**
 * Builds a training set from new data and rehearsal memory at a set ratio: a share
 * `ratio` of `size` from the new samples, the rest from memory, each drawn at
 * random without replacement (all of a source when it has too few, the other
 * source filling in), then shuffled. Samples present in both (same message id)
 * are taken once. Seeded: the same inputs and seed give the same set.
 *
 * @example
 * ```ts
 * mixTrainingSet(newSamples, memorySamples, { size: 1000, ratio: 0.5, seed: 3 });
 * // { items: 500 new + 500 from memory, shuffled, fromNew: 500, fromMemory: 500 }
 * ```
 */
import { PythonRandom } from "../drift/random";
import type { Sample } from "./dataset";

export interface MixOptions {
  size: number;
  /** Share of the set taken from new data, 0..1. */
  ratio: number;
  seed: number;
}

export function mixTrainingSet(fresh: readonly Sample[], memory: readonly Sample[], { size, ratio, seed }: MixOptions): { items: Sample[]; fromNew: number; fromMemory: number } {
  const rng = new PythonRandom(seed);
  const freshIds = new Set(fresh.map((s) => s.id));
  const memoryOnly = memory.filter((s) => !freshIds.has(s.id));
  let wantNew = Math.min(fresh.length, Math.round(size * ratio));
  let wantMemory = Math.min(memoryOnly.length, size - wantNew);
  // One source short: the other fills in, so the set reaches `size` when it can.
  wantNew = Math.min(fresh.length, size - wantMemory);
  wantMemory = Math.min(memoryOnly.length, size - wantNew);
  const draw = (from: readonly Sample[], k: number) => Array.from(rng.sample(from.length, k), (i) => from[i]);
  const items = [...draw(fresh, wantNew), ...draw(memoryOnly, wantMemory)];
  rng.shuffle(items);
  return { items, fromNew: wantNew, fromMemory: wantMemory };
}
