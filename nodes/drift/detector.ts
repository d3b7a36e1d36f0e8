/**
 * The small API every streaming drift detector shares (River's, camelCased):
 * `update(x)` feeds one value and returns the detector itself, whose
 * `driftDetected` / `warningDetected` say what this value revealed. A detector
 * resets itself on the update after it reported a drift, as River's do.
 *
 * Returning the detector rather than a fresh object keeps `update` free of
 * allocation: the detectors run at millions of values per second (bench/drift.ts).
 */
export interface StreamingDetector {
  /** Feeds one value; read the flags and figures off the returned detector. */
  update(x: number): StreamingDetector;
  readonly driftDetected: boolean;
  readonly warningDetected: boolean;
  /** The quantity the detector tests, at the last update (see each detector for its meaning). */
  readonly statistic: number;
  /** What `statistic` is compared with to call a drift. */
  readonly threshold: number;
  /**
   * How far the stream is towards a drift: 0 for none, 1 at the drift threshold,
   * above 1 beyond it. Comparable across detectors, for dashboards.
   */
  readonly magnitude: number;
  /** Values the current statistic is computed over (window width, count since reset). */
  readonly window: number;
  /** Forgets everything, as a newly made detector. */
  reset(): void;
}
