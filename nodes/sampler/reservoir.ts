/**
 * Reservoir sampling (Vitter's Algorithm R): a uniform sample of `size` items from
 * a stream of unknown length. Seeded with the Python-compatible generator, so the
 * same stream and seed always keep the same items.
 *
 * @example
 * ```ts
 * const reservoir = new Reservoir<number>(100, 7);
 * for (let i = 0; i < 10_000; i++) reservoir.add(i);
 * reservoir.items; // 100 of the 10,000, each kept with probability 1/100
 * ```
 */
import { PythonRandom } from "../drift/random";

export class Reservoir<T> {
  readonly items: T[] = [];
  /** Items offered so far. */
  seen = 0;
  private readonly rng: PythonRandom;

  constructor(readonly size: number, readonly seed: number) {
    if (!(size >= 1)) throw new Error("a reservoir needs room for at least one item");
    this.rng = new PythonRandom(seed);
  }

  /** Offers one item; returns the item it evicted, if any (undefined when kept without eviction or dropped). */
  add(item: T): { kept: boolean; evicted?: T } {
    this.seen++;
    if (this.items.length < this.size) {
      this.items.push(item);
      return { kept: true };
    }
    const j = this.rng.randbelow(this.seen);
    if (j >= this.size) return { kept: false };
    const evicted = this.items[j];
    this.items[j] = item;
    return { kept: true, evicted };
  }
}
