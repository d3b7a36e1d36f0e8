import type { StreamingDetector } from "./detector";

export type PageHinkleyMode = "up" | "down" | "both";

export interface PageHinkleyOptions {
  /** Values seen before a drift can be reported. */
  minInstances?: number;
  /** Tolerated deviation from the mean (the test's delta). */
  delta?: number;
  /** Drift when the cumulative deviation exceeds this (lambda). */
  threshold?: number;
  /** Forgetting factor of the cumulative sums. */
  alpha?: number;
  /** Watch increases ("up"), decreases ("down") or both. */
  mode?: PageHinkleyMode;
}

/**
 * The Page-Hinkley test (Page, 1954), as River's `drift.PageHinkley`: accumulates
 * the deviations of each value from the running mean, with forgetting, and reports
 * drift when the sum moves more than `threshold` away from its extreme.
 *
 * `statistic` is the larger watched test value and `threshold` lambda.
 *
 * @example
 * ```ts
 * // River's docstring example, with Python's random reproduced.
 * import { PageHinkley } from "./page-hinkley";
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(12345);
 * const stream = [...rng.choices([0, 1], 1000), ...rng.choices([4, 5, 6, 7], 1000)];
 * const ph = new PageHinkley();
 * stream.forEach((x, i) => {
 *   if (ph.update(x).driftDetected) console.log(`Change detected at index ${i}, input value: ${x}`);
 * });
 * // Change detected at index 1006, input value: 5
 * ```
 */
export class PageHinkley implements StreamingDetector {
  readonly minInstances: number;
  readonly delta: number;
  readonly threshold: number;
  readonly alpha: number;
  readonly mode: PageHinkleyMode;

  driftDetected = false;
  readonly warningDetected = false;
  statistic = 0;

  private n = 0;
  private mean = 0;
  private sumIncrease = 0;
  private sumDecrease = 0;
  private minIncrease = Infinity;
  private maxDecrease = -1;
  private readonly watchUp: boolean;
  private readonly watchDown: boolean;

  constructor({ minInstances = 30, delta = 0.005, threshold = 50, alpha = 1 - 0.0001, mode = "both" }: PageHinkleyOptions = {}) {
    if (!["up", "down", "both"].includes(mode)) throw new Error(`PageHinkley mode must be up, down or both, got ${mode}`);
    this.minInstances = minInstances;
    this.delta = delta;
    this.threshold = threshold;
    this.alpha = alpha;
    this.mode = mode;
    this.watchUp = mode !== "down";
    this.watchDown = mode !== "up";
  }

  get window(): number {
    return this.n;
  }

  get magnitude(): number {
    return this.statistic / this.threshold;
  }

  reset(): void {
    this.driftDetected = false;
    this.statistic = 0;
    this.n = 0;
    this.mean = 0;
    this.sumIncrease = 0;
    this.sumDecrease = 0;
    this.minIncrease = Infinity;
    this.maxDecrease = -1;
  }

  update(x: number): this {
    if (this.driftDetected) this.reset();
    this.n++;
    this.mean += (1 / this.n) * (x - this.mean);
    const dev = x - this.mean;
    this.sumIncrease = this.alpha * this.sumIncrease + dev - this.delta;
    this.sumDecrease = this.alpha * this.sumDecrease + dev + this.delta;
    if (this.sumIncrease < this.minIncrease) this.minIncrease = this.sumIncrease;
    if (this.sumDecrease > this.maxDecrease) this.maxDecrease = this.sumDecrease;
    if (this.n >= this.minInstances) {
      const up = this.watchUp ? this.sumIncrease - this.minIncrease : 0;
      const down = this.watchDown ? this.maxDecrease - this.sumDecrease : 0;
      this.statistic = up > down ? up : down;
      this.driftDetected = this.statistic > this.threshold;
    }
    return this;
  }
}
