import type { StreamingDetector } from "./detector";
import { ksTwoSampleSorted } from "./ks";
import { PythonRandom } from "./random";

export interface KSWINOptions {
  /** p-value at or under which the KS test reports drift (keep it small, < 0.01). */
  alpha?: number;
  /** Values kept in the sliding window. */
  windowSize?: number;
  /** The most recent values tested against as many drawn from the older part. */
  statSize?: number;
  /** Seed of the draws (Python-compatible, so River's seed gives River's draws); random when absent. */
  seed?: number;
  /** Values to start the window with, to avoid a cold start. */
  window?: readonly number[];
}

/**
 * Kolmogorov–Smirnov WINdowing (Raab et al., 2020), as River's `drift.KSWIN`: keeps
 * a sliding window, and on every value tests its `statSize` newest values against
 * `statSize` values drawn at random from the rest with a two-sample KS test
 * (SciPy's exact p-value). Drift when p ≤ alpha and D > 0.1; the window then keeps
 * only the newest values.
 *
 * The draws use our reproduction of Python's `random.Random(seed).sample`, so with
 * the same seed this KSWIN draws the very samples River's does and reports the
 * same drifts. `statistic` is D, `pValue` its p-value and `threshold` the
 * docstring's √(−ln α / statSize).
 *
 * @example
 * ```ts
 * // River's docstring example, with Python's random reproduced.
 * import { KSWIN } from "./kswin";
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(12345);
 * const stream = [...rng.choices([0, 1], 1000), ...rng.choices([4, 5, 6, 7], 1000)];
 * const kswin = new KSWIN({ alpha: 0.0001, seed: 42 });
 * stream.forEach((x, i) => {
 *   if (kswin.update(x).driftDetected) console.log(`Change detected at index ${i}, input value: ${x}`);
 * });
 * // Change detected at index 1016, input value: 6
 * ```
 */
export class KSWIN implements StreamingDetector {
  readonly alpha: number;
  readonly windowSize: number;
  readonly statSize: number;
  readonly seed: number;
  readonly threshold: number;

  driftDetected = false;
  readonly warningDetected = false;
  statistic = 0;
  pValue = 1;
  /** Values seen since the last reset. */
  n = 0;

  /** Ring buffer of the window; `start` is the oldest value. */
  private readonly ring: Float64Array;
  private start = 0;
  private length = 0;
  private rng!: PythonRandom;
  private readonly drawn: Int32Array;
  private readonly older: Float64Array;
  private readonly recent: Float64Array;
  private readonly initialWindow: readonly number[];

  constructor({ alpha = 0.005, windowSize = 100, statSize = 30, seed, window = [] }: KSWINOptions = {}) {
    if (alpha < 0 || alpha > 1) throw new Error("KSWIN alpha must be between 0 and 1");
    if (windowSize < 0) throw new Error("KSWIN windowSize must be greater than 0");
    if (windowSize < statSize) throw new Error("KSWIN statSize must be smaller than windowSize");
    this.alpha = alpha;
    this.windowSize = windowSize;
    this.statSize = statSize;
    this.seed = seed ?? Math.floor(Math.random() * 2 ** 32);
    this.threshold = Math.sqrt(-Math.log(alpha) / statSize);
    this.ring = new Float64Array(windowSize);
    this.drawn = new Int32Array(statSize);
    this.older = new Float64Array(statSize);
    this.recent = new Float64Array(statSize);
    this.initialWindow = window.slice(-windowSize);
    this.reset();
  }

  get window(): number {
    return this.length;
  }

  get magnitude(): number {
    return this.statistic / this.threshold;
  }

  reset(): void {
    this.driftDetected = false;
    this.statistic = 0;
    this.pValue = 1;
    this.n = 0;
    this.start = 0;
    this.length = 0;
    this.rng = new PythonRandom(this.seed);
    for (const x of this.initialWindow) this.push(x);
  }

  private push(x: number): void {
    if (this.length < this.windowSize) this.ring[(this.start + this.length++) % this.windowSize] = x;
    else {
      this.ring[this.start] = x;
      this.start = (this.start + 1) % this.windowSize;
    }
  }

  private at(i: number): number {
    return this.ring[(this.start + i) % this.windowSize];
  }

  update(x: number): this {
    if (this.driftDetected) this.reset();
    this.n++;
    this.push(x);
    if (this.length < this.windowSize) {
      this.driftDetected = false;
      return this;
    }
    const older = this.windowSize - this.statSize;
    this.rng.sample(older, this.statSize, this.drawn);
    for (let i = 0; i < this.statSize; i++) {
      this.older[i] = this.at(this.drawn[i]);
      this.recent[i] = this.at(older + i);
    }
    // Sorted in place: the scratch arrays are refilled on every update.
    const { statistic, pValue } = ksTwoSampleSorted(this.older.sort(), this.recent.sort());
    this.statistic = statistic;
    this.pValue = pValue;
    this.driftDetected = pValue <= this.alpha && statistic > 0.1;
    if (this.driftDetected) {
      // Keep only the newest values, in arrival order, as River does.
      const recent = new Float64Array(this.statSize);
      for (let i = 0; i < this.statSize; i++) recent[i] = this.at(older + i);
      this.start = 0;
      this.length = 0;
      for (const v of recent) this.push(v);
    }
    return this;
  }
}
