/**
 * Class-balanced rehearsal buffer, like Avalanche's `ClassBalancedBuffer`: a memory of
 * `memorySize` samples shared equally among the classes seen so far (the first
 * `memorySize mod classes` classes, by first appearance, get one more), each class
 * filled by its own reservoir sampling. When a new class appears, every class gives
 * up random samples to make room. Seeded: the same stream and seed keep the same samples.
 *
 * @example
 * ```ts
 * const buffer = new RehearsalBuffer(200, 1);
 * for (const s of stream) buffer.add(s); // { id, x, y }
 * buffer.quota(); // { "0": 100, "1": 100 } once two classes were seen
 * ```
 */
import { PythonRandom } from "../drift/random";
import type { Sample } from "./dataset";

export class RehearsalBuffer {
  private readonly byClass = new Map<string, { items: Sample[]; seen: number }>();
  private readonly rng: PythonRandom;

  constructor(readonly memorySize: number, readonly seed: number) {
    if (!(memorySize >= 1)) throw new Error("memorySize must be at least 1");
    this.rng = new PythonRandom(seed);
  }

  /** Samples per class right now (the target each class fills towards). */
  quota(): Record<string, number> {
    const classes = [...this.byClass.keys()];
    const base = Math.floor(this.memorySize / classes.length);
    const extra = this.memorySize % classes.length;
    return Object.fromEntries(classes.map((c, i) => [c, base + (i < extra ? 1 : 0)]));
  }

  add(sample: Sample): void {
    const key = String(sample.y);
    let entry = this.byClass.get(key);
    if (!entry) {
      entry = { items: [], seen: 0 };
      this.byClass.set(key, entry);
      this.shrinkToQuota();
    }
    const cap = this.quota()[key];
    entry.seen++;
    if (entry.items.length < cap) entry.items.push(sample);
    else {
      const j = this.rng.randbelow(entry.seen);
      if (j < cap) entry.items[j] = sample;
    }
  }

  /** Drops random samples from classes over their quota (after a new class arrived). */
  private shrinkToQuota(): void {
    const quota = this.quota();
    for (const [key, entry] of this.byClass) {
      while (entry.items.length > quota[key]) entry.items.splice(this.rng.randbelow(entry.items.length), 1);
    }
  }

  /** All samples held, class by class in order of first appearance. */
  get items(): Sample[] {
    return [...this.byClass.values()].flatMap((e) => e.items);
  }

  /** Samples offered per class. */
  seenPerClass(): Record<string, number> {
    return Object.fromEntries([...this.byClass].map(([k, e]) => [k, e.seen]));
  }
}
