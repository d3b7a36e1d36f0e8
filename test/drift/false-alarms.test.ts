/**
 * On stationary data a test must raise false alarms at no more than its configured
 * level. Seeded fast-check properties: each run draws a seed, builds stationary
 * data from it, and checks the alarm rate against the level plus a binomial margin
 * (4 standard deviations, so a correct test fails about once in 30,000 runs).
 *
 * DDM, EDDM and Page-Hinkley have thresholds, not significance levels, so they have
 * no "configured level" to check here; River's EDDM docstring itself raises alpha
 * and beta to keep its example quiet.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ADWIN } from "../../nodes/drift/adwin";
import { chiSquareTest, countCategories } from "../../nodes/drift/chi-square";
import { HDDMA } from "../../nodes/drift/hddm-a";
import { ksTwoSample } from "../../nodes/drift/ks";
import { KSWIN } from "../../nodes/drift/kswin";
import { mmdTest } from "../../nodes/drift/mmd";
import { PythonRandom } from "../../nodes/drift/random";

const seeds = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const runs = { seed: 20261122, numRuns: 8 };

/** Most alarms a test at `level` may raise in `trials` independent trials. */
function allowed(level: number, trials: number): number {
  return level * trials + 4 * Math.sqrt(trials * level * (1 - level)) + 1;
}

function gaussian(rng: PythonRandom): number {
  return Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random());
}

describe("two-sample tests keep their level on data from one distribution", () => {
  it("KS: P(p ≤ 0.05) ≤ 0.05", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const rng = new PythonRandom(seed);
        const trials = 200;
        let alarms = 0;
        for (let t = 0; t < trials; t++) {
          const a = Array.from({ length: 60 }, () => gaussian(rng));
          const b = Array.from({ length: 45 }, () => gaussian(rng));
          if (ksTwoSample(a, b).pValue <= 0.05) alarms++;
        }
        expect(alarms).toBeLessThanOrEqual(allowed(0.05, trials));
      }),
      runs,
    );
  });

  it("chi-square: P(p ≤ 0.05) ≤ 0.05", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const rng = new PythonRandom(seed);
        const weights = [0.1, 0.2, 0.3, 0.4];
        const draw = () => {
          let u = rng.random();
          let k = 0;
          while (k < weights.length - 1 && u >= weights[k]) u -= weights[k++];
          return k;
        };
        const trials = 200;
        let alarms = 0;
        for (let t = 0; t < trials; t++) {
          const ref = countCategories(Array.from({ length: 200 }, draw), [0, 1, 2, 3]).counts;
          const cur = countCategories(Array.from({ length: 150 }, draw), [0, 1, 2, 3]).counts;
          if (chiSquareTest(ref, cur).pValue <= 0.05) alarms++;
        }
        expect(alarms).toBeLessThanOrEqual(allowed(0.05, trials));
      }),
      runs,
    );
  });

  it("MMD permutation test: P(p ≤ 0.1) ≤ 0.1", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const rng = new PythonRandom(seed);
        const trials = 40;
        let alarms = 0;
        for (let t = 0; t < trials; t++) {
          const x = Array.from({ length: 30 }, () => [gaussian(rng), gaussian(rng)]);
          const y = Array.from({ length: 30 }, () => [gaussian(rng), gaussian(rng)]);
          if (mmdTest(x, y, { seed: seed + t, nPermutations: 50 }).pValue <= 0.1) alarms++;
        }
        expect(alarms).toBeLessThanOrEqual(allowed(0.1, trials));
      }),
      { ...runs, numRuns: 4 },
    );
  });
});

describe("streaming detectors stay quiet on stationary streams", () => {
  const bernoulli = (rng: PythonRandom, p: number) => (rng.random() < p ? 1 : 0);

  it("KSWIN: alarms per test ≤ alpha", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const rng = new PythonRandom(seed);
        const kswin = new KSWIN({ alpha: 0.005, seed });
        let alarms = 0;
        let tests = 0;
        for (let i = 0; i < 5000; i++) {
          kswin.update(gaussian(rng));
          if (kswin.window >= kswin.windowSize || kswin.driftDetected) tests++;
          if (kswin.driftDetected) alarms++;
        }
        expect(alarms).toBeLessThanOrEqual(allowed(0.005, tests));
      }),
      runs,
    );
  });

  it("HDDM_A: alarms per update ≤ driftConfidence", () => {
    fc.assert(
      fc.property(seeds, fc.double({ min: 0.05, max: 0.95, noNaN: true }), (seed, p) => {
        const rng = new PythonRandom(seed);
        const hddm = new HDDMA({ driftConfidence: 0.001 });
        let alarms = 0;
        const updates = 20000;
        for (let i = 0; i < updates; i++) if (hddm.update(bernoulli(rng, p)).driftDetected) alarms++;
        expect(alarms).toBeLessThanOrEqual(allowed(0.001, updates));
      }),
      runs,
    );
  });

  it("ADWIN: with delta = 0.002 a stationary stream almost never loses its window", () => {
    // ADWIN bounds the chance of a false cut at each check by delta; over 24 streams of 20,000
    // values we allow one alarm in all (measured: none).
    let alarms = 0;
    fc.assert(
      fc.property(seeds, fc.double({ min: 0.05, max: 0.95, noNaN: true }), (seed, p) => {
        const rng = new PythonRandom(seed);
        const adwin = new ADWIN({ delta: 0.002 });
        for (let i = 0; i < 20000; i++) if (adwin.update(bernoulli(rng, p)).driftDetected) alarms++;
        expect(adwin.width).toBeGreaterThan(10000);
      }),
      { ...runs, numRuns: 24 },
    );
    expect(alarms).toBeLessThanOrEqual(1);
  });
});
