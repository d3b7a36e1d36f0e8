/**
 * Drift magnitude over time for the dashboard: a fixed ring of (time, magnitude)
 * points in typed arrays, so recording one per update allocates nothing.
 */
export class MagnitudeHistory {
  private readonly ts: Float64Array;
  private readonly values: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.ts = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  record(ts: number, magnitude: number): void {
    if (this.capacity === 0) return;
    this.ts[this.next] = ts;
    this.values[this.next] = magnitude;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Oldest first. */
  toArray(): { ts: number; magnitude: number }[] {
    const out: { ts: number; magnitude: number }[] = [];
    for (let i = 0; i < this.count; i++) {
      const k = (this.next - this.count + i + this.capacity) % this.capacity;
      out.push({ ts: this.ts[k], magnitude: this.values[k] });
    }
    return out;
  }
}
