import type { StreamingDetector } from "./detector";

export interface EDDMOptions {
  /** Values, and errors, seen before a warning or drift can be reported. */
  warmStart?: number;
  /** Warning when (p' + 2s') / (p'max + 2s'max) < alpha. */
  alpha?: number;
  /** Drift when (p' + 2s') / (p'max + 2s'max) < beta. */
  beta?: number;
}

/**
 * Early Drift Detection Method (Baena-García et al., 2006), as River's
 * `drift.binary.EDDM`: watches the distance between consecutive errors in a 0/1
 * error stream (1 = the model was wrong); errors coming closer together than the
 * best spacing seen means drift. Better than DDM at gradual drift.
 *
 * `statistic` is the level (p' + 2s') / (p'max + 2s'max), which falls towards
 * `threshold` = beta as errors crowd together.
 *
 * @example
 * ```ts
 * // River's docstring example, with Python's random reproduced.
 * import { EDDM } from "./eddm";
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(42);
 * const stream = [...rng.choices([0, 1], 1000), ...rng.choices([0, 1], 1000, [0.3, 0.7])];
 * const detector = new EDDM({ alpha: 0.8, beta: 0.75 });
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
 * // Warning detected at index 1059
 * // Change detected at index 1278
 * ```
 */
export class EDDM implements StreamingDetector {
  readonly warmStart: number;
  readonly alpha: number;
  readonly beta: number;

  driftDetected = false;
  warningDetected = false;
  statistic = 1;

  private n = 0;
  private lastError = 0;
  private nErrors = 0;
  // Running mean and variance (Welford) of the distances between errors.
  private distanceMean = 0;
  private distanceM2 = 0;
  private p2sMax = -1;

  constructor({ warmStart = 30, alpha = 0.95, beta = 0.9 }: EDDMOptions = {}) {
    if (alpha < beta) throw new Error("EDDM alpha must be greater or equal to beta");
    this.warmStart = warmStart;
    this.alpha = alpha;
    this.beta = beta;
  }

  get threshold(): number {
    return this.beta;
  }

  get window(): number {
    return this.n;
  }

  get magnitude(): number {
    // 0 while errors are as far apart as ever, 1 when the level reaches beta.
    return Math.max(0, (1 - this.statistic) / (1 - this.beta));
  }

  reset(): void {
    this.driftDetected = false;
    this.warningDetected = false;
    this.statistic = 1;
    this.n = 0;
    this.lastError = 0;
    this.nErrors = 0;
    this.distanceMean = 0;
    this.distanceM2 = 0;
    this.p2sMax = -1;
  }

  update(x: number): this {
    if (this.driftDetected) this.reset();
    this.n++;
    if (x === 1) {
      this.nErrors++;
      const distance = this.n - this.lastError;
      const oldMean = this.distanceMean;
      this.distanceMean += (1 / this.nErrors) * (distance - oldMean);
      this.distanceM2 += (distance - oldMean) * (distance - this.distanceMean);
      if (this.n > this.warmStart) {
        const variance = this.nErrors > 1 ? this.distanceM2 / (this.nErrors - 1) : 0;
        const p2s = this.distanceMean + 2 * Math.sqrt(variance);
        if (p2s > this.p2sMax) {
          this.p2sMax = p2s;
          this.statistic = 1;
        } else if (this.nErrors > this.warmStart) {
          const level = p2s / this.p2sMax;
          this.statistic = level;
          if (level < this.beta) this.driftDetected = true;
          else if (level < this.alpha) this.warningDetected = true;
          else this.warningDetected = false;
        }
      }
      this.lastError = this.n;
    }
    return this;
  }
}
