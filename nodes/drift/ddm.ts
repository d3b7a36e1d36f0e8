import type { StreamingDetector } from "./detector";

export interface DDMOptions {
  /** Values seen before a warning or drift can be reported. */
  warmStart?: number;
  /** Warning when p + s > p_min + warningThreshold · s_min. */
  warningThreshold?: number;
  /** Drift when p + s > p_min + driftThreshold · s_min. */
  driftThreshold?: number;
}

/**
 * Drift Detection Method (Gama et al., 2004), as River's `drift.binary.DDM`: watches
 * the error rate p of a stream of 0/1 errors (1 = the model was wrong) and its
 * binomial standard deviation s, and reports drift when p + s rises too far above
 * the lowest p_min + s_min seen.
 *
 * `statistic` is p + s and `threshold` p_min + driftThreshold · s_min.
 *
 * @example
 * ```ts
 * // River's docstring example, with Python's random reproduced.
 * import { DDM } from "./ddm";
 * import { PythonRandom } from "./random";
 * const rng = new PythonRandom(42);
 * const stream = [...rng.choices([0, 1], 1000), ...rng.choices([0, 1], 1000, [0.3, 0.7])];
 * const detector = new DDM();
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
 * // Warning detected at index 1084
 * // Change detected at index 1334
 * // Warning detected at index 1492
 * ```
 */
export class DDM implements StreamingDetector {
  readonly warmStart: number;
  readonly warningThreshold: number;
  readonly driftThreshold: number;

  driftDetected = false;
  warningDetected = false;
  statistic = 0;
  threshold = Infinity;

  private n = 0;
  private p = 0;
  private pMin = Infinity;
  private sMin = Infinity;
  private psMin = Infinity;

  constructor({ warmStart = 30, warningThreshold = 2, driftThreshold = 3 }: DDMOptions = {}) {
    this.warmStart = warmStart;
    this.warningThreshold = warningThreshold;
    this.driftThreshold = driftThreshold;
  }

  get window(): number {
    return this.n;
  }

  /** Error rate since the last reset. */
  get errorRate(): number {
    return this.p;
  }

  get magnitude(): number {
    // 0 at the best level seen, 1 at the drift line.
    if (this.threshold === Infinity || this.threshold <= this.psMin) return 0;
    return Math.max(0, (this.statistic - this.psMin) / (this.threshold - this.psMin));
  }

  reset(): void {
    this.driftDetected = false;
    this.warningDetected = false;
    this.statistic = 0;
    this.threshold = Infinity;
    this.n = 0;
    this.p = 0;
    this.pMin = Infinity;
    this.sMin = Infinity;
    this.psMin = Infinity;
  }

  update(x: number): this {
    if (this.driftDetected) this.reset();
    this.n++;
    this.p += (1 / this.n) * (x - this.p);
    const s = Math.sqrt((this.p * (1 - this.p)) / this.n);
    const ps = this.p + s;
    this.statistic = ps;
    if (this.n > this.warmStart) {
      if (ps <= this.psMin) {
        this.pMin = this.p;
        this.sMin = s;
        this.psMin = this.pMin + this.sMin;
      }
      this.threshold = this.pMin + this.driftThreshold * this.sMin;
      this.warningDetected = ps > this.pMin + this.warningThreshold * this.sMin;
      if (ps > this.threshold) {
        this.driftDetected = true;
        this.warningDetected = false;
      }
    }
    return this;
  }
}
