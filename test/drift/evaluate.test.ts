/**
 * River's drift evaluation (river/drift/evaluate.py) reproduced: every docstring example
 * with its printed figure, then detectors scored on synthetic streams whose delays are known.
 */
import { describe, expect, it } from "vitest";
import { ADWIN } from "../../nodes/drift/adwin";
import { driftReport, matchAlarms, scoreDetector } from "../../nodes/drift/evaluate";
import { abruptStream, gradualStream, recurringStream } from "../../nodes/drift/evaluate-streams";
import { PythonRandom } from "../../nodes/drift/random";

/** CPython's random.gauss on a reproduced random.Random (Box–Muller, the second value kept). */
function gaussian(rng: PythonRandom): (mu: number, sigma: number) => number {
  let next: number | undefined;
  return (mu, sigma) => {
    let z = next;
    next = undefined;
    if (z === undefined) {
      const x2pi = rng.random() * 2 * Math.PI;
      const g2rad = Math.sqrt(-2 * Math.log(1 - rng.random()));
      z = Math.cos(x2pi) * g2rad;
      next = Math.sin(x2pi) * g2rad;
    }
    return mu + z * sigma;
  };
}

const report = (alarms: number[], drifts: (number | [number, number])[], deltaMax: number, nSamples = 1000, unit = 1) =>
  driftReport(alarms, drifts, { nSamples, deltaMax, unit });

describe("River's evaluate docstring examples", () => {
  it("match, precision, recall, episode_recall, missed rate, f1", () => {
    const m = matchAlarms([110, 900], [100], { deltaMax: 50 });
    expect([...m.hits]).toEqual([[0, [110]]]);
    expect(m.falseAlarms).toEqual([900]);
    expect(report([110, 900], [100], 50).precision).toBe(0.5);
    expect(report([110, 130], [100, 500], 50).recall).toBe(2 / 3); // River prints 0.666666...
    expect(report([110, 130], [100, 500], 50).episode_recall).toBe(0.5);
    expect(report([110], [100, 500], 50).missed_detection_rate).toBe(0.5);
    expect(report([110, 900], [100, 500], 50).f1).toBe(0.5);
  });

  it("detection_delay, normalized_detection_time, false_alarm_rate, MTFA, mean_time_ratio, report", () => {
    expect(report([110, 530], [100, 500, 900], 50).detection_delay).toBe(20);
    expect(report([110], [100], 50).normalized_detection_time).toBe(0.2);
    expect(report([110, 900], [100], 50, 1000, 1000).false_alarm_rate).toBe(1);
    expect(report([200, 300, 500], [], 50).mean_time_between_false_alarms).toBe(150);
    expect(report([110, 400, 700], [100, 900], 50).mean_time_ratio).toBe(15);
    const r = report([110, 900], [100, 500], 50);
    expect(r.episode_recall).toBe(0.5);
    expect(r.detection_delay).toBe(10);
    expect(r).toMatchObject({ n_samples: 1000, n_drifts: 2, n_alarms: 2 });
  });

  it("score: ADWIN on River's seeded gaussian stream catches the drift at 1000", () => {
    const g = gaussian(new PythonRandom(42));
    const stream = [...Array.from({ length: 1000 }, () => g(0, 0.1)), ...Array.from({ length: 1000 }, () => g(5, 0.1))];
    const s = scoreDetector(new ADWIN(), stream, [1000], { deltaMax: 200 });
    expect(s.episode_recall).toBe(1);
    expect(s.n_samples).toBe(2000);
  });

  it("undefined metrics are NaN, windows are inclusive and the earliest wins", () => {
    const none = report([], [100], 50);
    expect(none.precision).toBeNaN();
    expect(none.detection_delay).toBeNaN();
    expect(report([150], [100], 50).episode_recall).toBe(1); // end + deltaMax is inside
    expect(report([151], [100], 50).episode_recall).toBe(0);
    expect(driftReport([95], [100], { nSamples: 1000, deltaMax: 50, deltaPre: 5 }).detection_delay).toBe(-5);
    expect([...matchAlarms([140], [100, 120], { deltaMax: 50 }).hits.keys()]).toEqual([0]);
    expect(() => report([1], [[10, 5]], 50)).toThrow(/ends before it starts/);
  });
});

describe("synthetic streams with a known delay", () => {
  it("abrupt: ADWIN checks every 32 values, so a change at 1000 is caught at 1023 (delay 23)", () => {
    const s = abruptStream({ n: 2000, at: [1000], seed: 7 });
    expect(s.drifts).toEqual([1000]);
    const r = scoreDetector(new ADWIN(), s.values, s.drifts, { deltaMax: 200 });
    expect(r.alarms).toEqual([1023]);
    expect(r.detection_delay).toBe(23);
    expect(r.false_alarm_rate).toBe(0);
    expect(r.updates_per_second).toBeGreaterThan(0);
  });

  it("gradual: the drift is its interval and the delay is counted from its start", () => {
    const s = gradualStream({ n: 3000, start: 1000, end: 1400, seed: 3, shift: 1 });
    expect(s.drifts).toEqual([[1000, 1400]]);
    const before = s.values.slice(0, 1000).reduce((a, b) => a + b) / 1000;
    const after = s.values.slice(1400).reduce((a, b) => a + b) / 1600;
    expect(before).toBeCloseTo(0, 1);
    expect(after).toBeCloseTo(1, 1);
    const r = scoreDetector(new ADWIN(), s.values, s.drifts, { deltaMax: 200 });
    expect(r.episode_recall).toBe(1);
    const first = r.alarms.find((a) => a >= 1000)!;
    expect(first % 32).toBe(31); // on ADWIN's clock
    expect(r.detection_delay).toBe(first - 1000);
    expect(r.detection_delay).toBeGreaterThan(0);
    expect(r.detection_delay).toBeLessThan(400);
  });

  it("recurring alternates concepts; the same seed gives the same stream", () => {
    const a = recurringStream({ n: 1000, period: 250, seed: 1 });
    expect(a.drifts).toEqual([250, 500, 750]);
    expect(recurringStream({ n: 1000, period: 250, seed: 1 }).values).toEqual(a.values);
    expect(recurringStream({ n: 1000, period: 250, seed: 2 }).values).not.toEqual(a.values);
  });
});
