/**
 * Scoring drift detectors against known drifts, with River's metrics and their names
 * (`river/drift/evaluate.py`), so figures compare one to one with River's.
 *
 * A drift is an index, or a `[start, end]` interval for a gradual one. Its acceptance
 * window is `[start − deltaPre, end + deltaMax]`, both bounds inclusive. Each alarm goes
 * to the earliest window that contains it; an alarm in no window is a false alarm.
 * Metrics that are undefined (no alarms, nothing caught, fewer than two false alarms)
 * are NaN, as in River.
 *
 * @example
 * ```ts
 * // River's docstring example for report().
 * import { driftReport } from "./evaluate";
 * const r = driftReport([110, 900], [100, 500], { nSamples: 1000, deltaMax: 50 });
 * console.log(r.episode_recall, r.detection_delay);
 * // 0.5 10
 * ```
 */

export type Drift = number | readonly [number, number];

export interface WindowOptions {
  /** How late an alarm may come after a drift's end and still count. */
  deltaMax: number;
  /** How early an alarm may come before a drift's start and still count (0 by default). */
  deltaPre?: number;
}

export interface ReportOptions extends WindowOptions {
  /** Samples in the stream, for the false alarm rate. */
  nSamples: number;
  /** The false alarm rate is quoted per this many samples (1 by default). */
  unit?: number;
}

/** Every metric of River's `report()`, under its names. */
export interface DriftReport {
  n_samples: number;
  n_drifts: number;
  n_alarms: number;
  precision: number;
  recall: number;
  episode_recall: number;
  f1: number;
  missed_detection_rate: number;
  detection_delay: number;
  normalized_detection_time: number;
  false_alarm_rate: number;
  mean_time_between_false_alarms: number;
  mean_time_ratio: number;
}

export interface Matching {
  /** Alarms per drift index, for the drifts that got at least one. */
  hits: Map<number, number[]>;
  falseAlarms: number[];
}

interface Window {
  start: number;
  lower: number;
  upper: number;
}

function windows(drifts: readonly Drift[], { deltaMax, deltaPre = 0 }: WindowOptions): Window[] {
  if (!(deltaMax > 0)) throw new Error("deltaMax must be strictly positive");
  if (!(deltaPre >= 0)) throw new Error("deltaPre must not be negative");
  return drifts.map((drift) => {
    const [start, end] = typeof drift === "number" ? [drift, drift] : drift;
    if (end < start) throw new Error(`drift [${start}, ${end}] ends before it starts`);
    return { start, lower: start - deltaPre, upper: end + deltaMax };
  });
}

/** Each alarm to the earliest window containing it, or to the false alarms. */
export function matchAlarms(alarms: readonly number[], drifts: readonly Drift[], options: WindowOptions): Matching {
  const ws = windows(drifts, options);
  const hits = new Map<number, number[]>();
  const falseAlarms: number[] = [];
  for (const alarm of alarms) {
    const i = ws.findIndex((w) => w.lower <= alarm && alarm <= w.upper);
    if (i < 0) falseAlarms.push(alarm);
    else if (hits.has(i)) hits.get(i)!.push(alarm);
    else hits.set(i, [alarm]);
  }
  return { hits, falseAlarms };
}

/** All of River's metrics for one detector's alarms on one stream. */
export function driftReport(alarms: readonly number[], drifts: readonly Drift[], options: ReportOptions): DriftReport {
  const { nSamples, deltaMax, unit = 1 } = options;
  if (!(nSamples > 0)) throw new Error("nSamples must be strictly positive");
  const ws = windows(drifts, options);
  const { hits, falseAlarms } = matchAlarms(alarms, drifts, options);

  const nHits = [...hits.values()].reduce((n, h) => n + h.length, 0);
  const nMissed = drifts.length - hits.size;
  const precision = alarms.length ? nHits / alarms.length : NaN;
  // Every alarm in a window counts towards recall; episode_recall counts each drift once.
  const recall = nHits + nMissed ? nHits / (nHits + nMissed) : NaN;
  const episodeRecall = drifts.length ? hits.size / drifts.length : NaN;
  const f1 = Number.isNaN(precision) || Number.isNaN(episodeRecall) ? NaN : precision + episodeRecall === 0 ? 0 : (2 * precision * episodeRecall) / (precision + episodeRecall);
  const missed = Number.isNaN(episodeRecall) ? NaN : 1 - episodeRecall;
  // Missed drifts are left out of the delay rather than charged a penalty (read it with the missed rate).
  const delays = [...hits].map(([i, h]) => Math.min(...h) - ws[i].start);
  const delay = delays.length ? delays.reduce((a, b) => a + b, 0) / delays.length : NaN;
  const gaps = falseAlarms.slice(1).map((a, i) => a - falseAlarms[i]);
  const mtfa = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN;
  const mtr = Number.isNaN(mtfa) || Number.isNaN(delay) ? NaN : delay === 0 ? Infinity : (mtfa / delay) * (1 - missed);

  return {
    n_samples: nSamples,
    n_drifts: drifts.length,
    n_alarms: alarms.length,
    precision,
    recall,
    episode_recall: episodeRecall,
    f1,
    missed_detection_rate: missed,
    detection_delay: delay,
    normalized_detection_time: delay / deltaMax,
    false_alarm_rate: (falseAlarms.length / nSamples) * unit,
    mean_time_between_false_alarms: mtfa,
    mean_time_ratio: mtr,
  };
}

/** Anything with River's detector API: `update(x)`, then `driftDetected`. */
export interface Updatable {
  update(x: number): unknown;
  readonly driftDetected: boolean;
}

export interface ScoreResult extends DriftReport {
  alarms: number[];
  /** Detector updates per second over this stream (the detector's work only). */
  updates_per_second: number;
}

/** Runs a detector over a stream with known drifts and reports on it (River's `score()`), with its speed. */
export function scoreDetector(
  detector: Updatable,
  stream: ArrayLike<number>,
  drifts: readonly Drift[],
  options: Omit<ReportOptions, "nSamples">,
): ScoreResult {
  const alarms: number[] = [];
  const started = performance.now();
  for (let i = 0; i < stream.length; i++) {
    detector.update(stream[i]);
    if (detector.driftDetected) alarms.push(i);
  }
  const seconds = (performance.now() - started) / 1000;
  const report = driftReport(alarms, drifts, { ...options, nSamples: stream.length });
  return { ...report, alarms, updates_per_second: seconds > 0 ? stream.length / seconds : Infinity };
}
