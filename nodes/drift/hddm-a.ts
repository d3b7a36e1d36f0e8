import type { StreamingDetector } from "./detector";

export interface HDDMAOptions {
  /** Confidence of the drift test (smaller = fewer false alarms). */
  driftConfidence?: number;
  /** Confidence of the warning test. */
  warningConfidence?: number;
  /** Also report drift when the mean decreases. */
  twoSidedTest?: boolean;
}

/** Running mean with its count, as River's `stats.Mean` (same update, same rounding). */
interface MeanState {
  n: number;
  mean: number;
}

/**
 * Hoeffding Drift Detection Method with the A-test (Frías-Blanco et al., 2014), as
 * River's `drift.binary.HDDMA`: compares the mean of a 0/1 error stream since the
 * start with its mean up to the best cut point, using Hoeffding bounds.
 *
 * `statistic` is the rise of the mean over the cut point and `threshold` the
 * Hoeffding bound for `driftConfidence`.
 *
 * @example
 * ```ts
 * // River's docstring example, with Python's random reproduced.
 * import { HDDMA } from "./hddm-a";
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(42);
 * const stream = [...rng.choices([0, 1], 1000), ...rng.choices([0, 1], 1000, [0.3, 0.7])];
 * const detector = new HDDMA();
 * let printWarning = true;
 * stream.forEach((x, i) => {
 *   detector.update(x);
 *   if (detector.warningDetected && printWarning) {
 *     console.log(`Warning detected at index ${i}`);
 *     printWarning = false;
 *   }
 *   if (detector.driftDetected) {
 *     console.log(`Change detected at index ${i}`);
 *     printWarning = true;
 *   }
 * });
 * // Warning detected at index 451
 * // Change detected at index 1206
 * ```
 */
export class HDDMA implements StreamingDetector {
  readonly driftConfidence: number;
  readonly warningConfidence: number;
  readonly twoSidedTest: boolean;

  driftDetected = false;
  warningDetected = false;
  statistic = 0;
  threshold = Infinity;

  private readonly z: MeanState = { n: 0, mean: 0 };
  private readonly xMin: MeanState = { n: 0, mean: 0 };
  private readonly xMax: MeanState = { n: 0, mean: 0 };

  constructor({ driftConfidence = 0.001, warningConfidence = 0.005, twoSidedTest = false }: HDDMAOptions = {}) {
    this.driftConfidence = driftConfidence;
    this.warningConfidence = warningConfidence;
    this.twoSidedTest = twoSidedTest;
  }

  get window(): number {
    return this.z.n;
  }

  get magnitude(): number {
    return this.threshold === Infinity ? 0 : Math.max(0, this.statistic / this.threshold);
  }

  reset(): void {
    this.driftDetected = false;
    this.warningDetected = false;
    this.statistic = 0;
    this.threshold = Infinity;
    this.z.n = this.xMin.n = this.xMax.n = 0;
    this.z.mean = this.xMin.mean = this.xMax.mean = 0;
  }

  private hoeffdingBound(n: number): number {
    return Math.sqrt((1 / (2 * n)) * Math.log(1 / this.driftConfidence));
  }

  update(x: number): this {
    if (this.driftDetected) this.reset();
    const z = this.z;
    z.n += 1;
    z.mean += (1 / z.n) * (x - z.mean);
    if (this.xMin.n === 0) copy(z, this.xMin);
    if (this.xMax.n === 0) copy(z, this.xMax);

    const epsZ = this.hoeffdingBound(z.n);
    if (this.xMin.mean + this.hoeffdingBound(this.xMin.n) >= z.mean + epsZ) copy(z, this.xMin);
    if (this.xMax.mean - this.hoeffdingBound(this.xMax.n) <= z.mean - epsZ) copy(z, this.xMax);

    this.statistic = z.mean - this.xMin.mean;
    this.threshold = this.bound(this.xMin, this.driftConfidence);
    if (this.meanIncreased(this.driftConfidence)) {
      this.warningDetected = false;
      this.driftDetected = true;
    } else {
      this.warningDetected = this.meanIncreased(this.warningConfidence);
      this.driftDetected = false;
    }
    if (this.twoSidedTest) {
      if (this.meanDecreased(this.driftConfidence)) this.driftDetected = true;
      else if (this.meanDecreased(this.warningConfidence)) this.warningDetected = true;
    }
    return this;
  }

  private bound(cut: MeanState, confidence: number): number {
    if (cut.n === this.z.n) return Infinity;
    const m = ((this.z.n - cut.n) / cut.n) * (1 / this.z.n);
    return Math.sqrt((m / 2) * Math.log(2 / confidence));
  }

  private meanIncreased(confidence: number): boolean {
    return this.xMin.n !== this.z.n && this.z.mean - this.xMin.mean >= this.bound(this.xMin, confidence);
  }

  private meanDecreased(confidence: number): boolean {
    return this.xMax.n !== this.z.n && this.xMax.mean - this.z.mean >= this.bound(this.xMax, confidence);
  }
}

function copy(from: MeanState, to: MeanState): void {
  to.n = from.n;
  to.mean = from.mean;
}
