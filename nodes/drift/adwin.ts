import type { StreamingDetector } from "./detector";

export interface ADWINOptions {
  /** Significance value: smaller means fewer false alarms and slower detection. */
  delta?: number;
  /** Check for change every `clock` values (1 = every value). */
  clock?: number;
  /** Buckets of each size kept before two are merged. */
  maxBuckets?: number;
  /** Sub-windows shorter than this are not tested. */
  minWindowLength?: number;
  /** No detection before this many values. */
  gracePeriod?: number;
}

/** Rows of buckets the window can ever need: row r holds buckets of 2^r values. */
const MAX_ROWS = 64;

/**
 * ADaptive WINdowing (Bifet & Gavaldà, 2007), as River's `drift.ADWIN`: keeps a
 * window of recent values summarised in exponential-histogram buckets, and drops
 * its oldest part whenever two sub-windows have means further apart than the
 * Hoeffding-style bound allows. Same parameters, defaults and detections as River.
 *
 * `statistic` is |mean(W0) − mean(W1)| and `threshold` the bound ε of the cut that
 * came closest to (or over) it at the last check.
 *
 * @example
 * ```ts
 * // River's docstring example, with Python's random reproduced.
 * import { ADWIN } from "./adwin";
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(12345);
 * const stream = [...rng.choices([0, 1], 1000), ...rng.choices([4, 5, 6, 7], 1000)];
 * const adwin = new ADWIN();
 * stream.forEach((x, i) => {
 *   if (adwin.update(x).driftDetected) console.log(`Change detected at index ${i}, input value: ${x}`);
 * });
 * // Change detected at index 1023, input value: 4
 * ```
 */
export class ADWIN implements StreamingDetector {
  readonly delta: number;
  readonly clock: number;
  readonly maxBuckets: number;
  readonly minWindowLength: number;
  readonly gracePeriod: number;

  driftDetected = false;
  readonly warningDetected = false;
  statistic = 0;
  threshold = Infinity;
  /** Drifts reported since the detector was made (reset does not clear it). */
  nDetections = 0;

  /** Bucket totals and variances, row-major: row r, slot k at r * slotsPerRow + k. Row 0 is the newest. */
  private readonly totals: Float64Array;
  private readonly variances: Float64Array;
  private readonly counts = new Int32Array(MAX_ROWS);
  private readonly slotsPerRow: number;
  private rows = 1;
  width = 0;
  total = 0;
  variance = 0;
  private tick = 0;

  constructor({ delta = 0.002, clock = 32, maxBuckets = 5, minWindowLength = 5, gracePeriod = 10 }: ADWINOptions = {}) {
    if (!(delta > 0 && delta < 1)) throw new Error("ADWIN delta must be in (0, 1)");
    this.delta = delta;
    this.clock = clock;
    this.maxBuckets = maxBuckets;
    this.minWindowLength = minWindowLength;
    this.gracePeriod = gracePeriod;
    this.slotsPerRow = maxBuckets + 1;
    this.totals = new Float64Array(MAX_ROWS * this.slotsPerRow);
    this.variances = new Float64Array(MAX_ROWS * this.slotsPerRow);
  }

  /** Mean of the values in the window. */
  get estimation(): number {
    return this.width === 0 ? 0 : this.total / this.width;
  }

  get window(): number {
    return this.width;
  }

  get magnitude(): number {
    return this.threshold === Infinity ? 0 : this.statistic / this.threshold;
  }

  reset(): void {
    this.driftDetected = false;
    this.statistic = 0;
    this.threshold = Infinity;
    this.counts.fill(0);
    this.rows = 1;
    this.width = 0;
    this.total = 0;
    this.variance = 0;
    this.tick = 0;
  }

  update(x: number): this {
    if (this.driftDetected) this.reset();
    this.insert(x);
    this.driftDetected = this.detectChange();
    if (this.driftDetected) this.nDetections++;
    return this;
  }

  private insert(value: number): void {
    const slot = this.counts[0]++;
    this.totals[slot] = value;
    this.variances[slot] = 0;
    this.width += 1;
    if (this.width > 1) {
      const d = value - this.total / (this.width - 1);
      this.variance += ((this.width - 1) * d * d) / this.width;
    }
    this.total += value;
    this.compress();
  }

  /** Merges the two oldest buckets of a row into the next row while a row overflows. */
  private compress(): void {
    const { totals, variances, counts, slotsPerRow, maxBuckets } = this;
    for (let row = 0; row < this.rows; row++) {
      if (counts[row] !== maxBuckets + 1) break;
      if (row + 1 === this.rows) {
        if (this.rows === MAX_ROWS) throw new Error("ADWIN window exceeds 2^64 values");
        counts[this.rows++] = 0;
      }
      const base = row * slotsPerRow;
      const size = 2 ** row;
      const mu1 = totals[base] / size;
      const mu2 = totals[base + 1] / size;
      const next = (row + 1) * slotsPerRow + counts[row + 1]++;
      totals[next] = totals[base] + totals[base + 1];
      variances[next] = variances[base] + variances[base + 1] + size * 0.5 * (mu1 - mu2) * (mu1 - mu2);
      this.shiftRow(row, 2);
      if (counts[row + 1] <= maxBuckets) break;
    }
  }

  /** Drops the `n` oldest buckets of a row. */
  private shiftRow(row: number, n: number): void {
    const base = row * this.slotsPerRow;
    const remaining = this.counts[row] - n;
    for (let k = 0; k < remaining; k++) {
      this.totals[base + k] = this.totals[base + k + n];
      this.variances[base + k] = this.variances[base + k + n];
    }
    this.counts[row] = remaining;
  }

  /** Removes the oldest bucket; returns how many values it held. */
  private deleteOldest(): number {
    const row = this.rows - 1;
    const base = row * this.slotsPerRow;
    const n = 2 ** row;
    const u = this.totals[base];
    const mu = u / n;
    const v = this.variances[base];
    this.width -= n;
    this.total -= u;
    const muWindow = this.total / this.width;
    this.variance -= v + (n * this.width * (mu - muWindow) * (mu - muWindow)) / (n + this.width);
    this.shiftRow(row, 1);
    if (this.counts[row] === 0) this.rows--;
    return n;
  }

  private detectChange(): boolean {
    let changed = false;
    this.tick++;
    if (this.tick % this.clock !== 0 || this.width <= this.gracePeriod) return false;
    const { totals, counts, slotsPerRow, minWindowLength } = this;
    let bestRatio = -1;
    let reduce = true;
    while (reduce) {
      reduce = false;
      let done = false;
      let n0 = 0;
      let n1 = this.width;
      let u0 = 0;
      let u1 = this.total;
      // Constant over one pass: the width only changes when a cut ends the pass.
      const deltaPrime = Math.log((2 * Math.log(this.width)) / this.delta);
      const windowVariance = this.variance / this.width;
      for (let row = this.rows - 1; row >= 0 && !done; row--) {
        const size = 2 ** row;
        const base = row * slotsPerRow;
        const count = counts[row];
        for (let k = 0; k < count; k++) {
          const t = totals[base + k];
          n0 += size;
          n1 -= size;
          u0 += t;
          u1 -= t;
          if (row === 0 && k === count - 1) {
            done = true;
            break;
          }
          if (n1 < minWindowLength || n0 < minWindowLength) continue;
          const deltaMean = Math.abs(u0 / n0 - u1 / n1);
          const mRecip = 1 / (n0 - minWindowLength + 1) + 1 / (n1 - minWindowLength + 1);
          const epsilon = Math.sqrt(2 * mRecip * windowVariance * deltaPrime) + (2 / 3) * deltaPrime * mRecip;
          if (deltaMean / epsilon > bestRatio) {
            bestRatio = deltaMean / epsilon;
            this.statistic = deltaMean;
            this.threshold = epsilon;
          }
          if (deltaMean > epsilon) {
            reduce = true;
            changed = true;
            if (this.width > 0) {
              n0 -= this.deleteOldest();
              done = true;
              break;
            }
          }
        }
      }
    }
    return changed;
  }
}
