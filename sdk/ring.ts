/** A bounded ring of the last items pushed, by count and optionally by weight (bytes): taps keep one per edge, nodes their windows. */
export class Ring<T> {
  private readonly items: T[];
  /** Each item's weight, when the ring has a weight budget. */
  private readonly weights?: Float64Array;
  private weight = 0;
  private next = 0;
  private count = 0;
  /** Everything ever pushed, so readers can tell how much they missed. */
  total = 0;

  /** With `maxWeight`, the oldest items also go while the weights pushed with them add up to more (the newest always stays). */
  constructor(
    readonly capacity: number,
    private readonly maxWeight?: number,
  ) {
    this.items = new Array(capacity);
    if (maxWeight !== undefined) this.weights = new Float64Array(capacity);
  }

  push(item: T, weight = 0): void {
    if (this.capacity === 0) return;
    // Full, the next slot is the oldest's: overwritten.
    const slot = this.next;
    const full = this.count === this.capacity;
    this.items[slot] = item;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    if (!full) this.count++;
    this.total++;
    if (this.weights) {
      this.weight += weight - (full ? this.weights[slot] : 0);
      this.weights[slot] = weight;
      while (this.weight > this.maxWeight! && this.count > 1) this.dropOldest();
    }
  }

  private dropOldest(): void {
    const oldest = (this.next - this.count + this.capacity) % this.capacity;
    this.items[oldest] = undefined as T;
    if (this.weights) this.weight -= this.weights[oldest];
    this.count--;
  }

  /** Oldest first; the last `limit` when given. */
  toArray(limit = this.count): T[] {
    const n = Math.min(limit, this.count);
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.items[(this.next - n + i + this.capacity) % this.capacity];
    return out;
  }
}
