/**
 * Two-sample tests against SciPy (and, for MMD, Alibi Detect's formulas in numpy):
 * fixtures/make_scipy_fixtures.py wrote what SciPy returns for each case.
 */
import { describe, expect, it } from "vitest";
import { chiSquareTest, countCategories } from "../../nodes/drift/chi-square";
import { correctedDrift } from "../../nodes/drift/corrections";
import { ksTwoSample } from "../../nodes/drift/ks";
import { mmdTest, mmdThreshold } from "../../nodes/drift/mmd";
import { populationStabilityIndex, psiFromCounts } from "../../nodes/drift/psi";
import { kolmogorovSf } from "../../nodes/drift/special";
import { normedWasserstein, wassersteinDistance } from "../../nodes/drift/wasserstein";
import fixtures from "./fixtures/scipy.json";

const TOLERANCE = 1e-6;

describe("Kolmogorov–Smirnov agrees with scipy.stats.ks_2samp", () => {
  it.each(fixtures.ks.map((c) => [`${c.a.length} vs ${c.b.length}`, c] as const))("%s", (_, c) => {
    const r = ksTwoSample(c.a, c.b);
    expect(r.method).toBe(Math.max(c.a.length, c.b.length) <= 10000 ? "exact" : "asymp");
    expect(Math.abs(r.statistic - c.statistic)).toBeLessThan(TOLERANCE);
    expect(Math.abs(r.pValue - c.pValue)).toBeLessThan(TOLERANCE);
  });

  it.each(fixtures.kstwo.map((c) => [`n=${c.n} x=${c.x}`, c] as const))("kstwo.sf %s", (_, c) => {
    expect(Math.abs(kolmogorovSf(c.n, c.x) - c.sf)).toBeLessThan(TOLERANCE);
  });

  it("does not reorder its inputs", () => {
    const a = [3, 1, 2];
    ksTwoSample(a, [0.5, 4]);
    expect(a).toEqual([3, 1, 2]);
  });

  it("refuses empty samples", () => {
    expect(() => ksTwoSample([], [1])).toThrow(/non-empty/);
  });
});

describe("chi-square agrees with scipy.stats.chi2_contingency", () => {
  it.each(fixtures.chi2.map((c) => [`${c.reference} vs ${c.current}`, c] as const))("%s", (_, c) => {
    const r = chiSquareTest(c.reference, c.current);
    expect(r.dof).toBe(c.dof);
    expect(Math.abs(r.statistic - c.statistic)).toBeLessThan(TOLERANCE);
    expect(Math.abs(r.pValue - c.pValue)).toBeLessThan(TOLERANCE);
  });

  it("counts categories and the values outside them", () => {
    expect(countCategories(["a", "b", "a", "z"], ["a", "b"])).toEqual({ counts: [2, 1], unseen: 1 });
  });
});

describe("Wasserstein agrees with scipy.stats.wasserstein_distance", () => {
  it.each(fixtures.wasserstein.map((c) => [`${c.u.length} vs ${c.v.length}`, c] as const))("%s", (_, c) => {
    expect(Math.abs(wassersteinDistance(c.u, c.v) - c.distance)).toBeLessThan(TOLERANCE);
  });

  it("normed by the reference's standard deviation", () => {
    expect(normedWasserstein([0, 2], [1, 3])).toBeCloseTo(1, 12); // W = 1, std = 1
  });
});

describe("PSI agrees with Evidently's formula on numpy histograms", () => {
  it.each(fixtures.psi.map((c) => [`${c.reference.length} vs ${c.current.length}, ${c.bins} bins`, c] as const))("%s", (_, c) => {
    expect(Math.abs(populationStabilityIndex(c.reference, c.current, c.bins) - c.psi)).toBeLessThan(TOLERANCE);
  });

  it("on category counts, with empty shares replaced by 0.0001", () => {
    const expected = (0.5 - 0.0001) * Math.log(0.5 / 0.0001) + (0.5 - 1) * Math.log(0.5 / 1);
    expect(psiFromCounts([5, 5], [0, 10])).toBeCloseTo(expected, 12);
  });
});

describe("MMD follows Alibi Detect", () => {
  it.each(fixtures.mmd.map((c) => [`${c.x.length} vs ${c.y.length}, ${c.x[0].length}-d`, c] as const))(
    "median-heuristic sigma and unbiased MMD² %s",
    (_, c) => {
      const r = mmdTest(c.x, c.y, { seed: 1, nPermutations: 20 });
      expect(Math.abs(r.sigma - c.sigma)).toBeLessThan(TOLERANCE);
      expect(Math.abs(r.statistic - c.mmd2)).toBeLessThan(TOLERANCE);
    },
  );

  it("distance threshold as Alibi Detect: np.sort(permuted)[::-1][int(p_val * n)]", () => {
    const permuted = Float64Array.from({ length: 100 }, (_, i) => (i * 37) % 100); // 0..99, shuffled
    expect(mmdThreshold(permuted, 0.05)).toBe(94);
    expect(mmdThreshold(permuted, 0)).toBe(99);
  });

  it("finds a shifted sample and the same seed gives the same p-value", () => {
    const [x, y] = [fixtures.mmd[2].x, fixtures.mmd[2].y]; // mean shifted by 1
    const first = mmdTest(x, y, { seed: 7 });
    expect(first.pValue).toBeLessThanOrEqual(0.05);
    expect(mmdTest(x, y, { seed: 7 }).pValue).toBe(first.pValue);
    const same = mmdTest(fixtures.mmd[0].x, fixtures.mmd[0].y, { seed: 7 }); // same distribution
    expect(same.pValue).toBeGreaterThan(0.05);
  });
});

describe("multiple-feature corrections, as Alibi Detect", () => {
  it("Bonferroni compares each p-value with alpha / features", () => {
    expect(correctedDrift([0.001, 0.2, 0.04], 0.05, "bonferroni")).toEqual({ isDrift: true, threshold: 0.05 / 3, driftedFeatures: [0] });
    expect(correctedDrift([0.02, 0.2, 0.04], 0.05, "bonferroni").isDrift).toBe(false);
  });

  it("Benjamini–Hochberg rejects up to the largest rank under k/m · alpha", () => {
    expect(correctedDrift([0.03, 0.01, 0.02], 0.05, "fdr")).toEqual({ isDrift: true, threshold: 0.05, driftedFeatures: [0, 1, 2] });
    // p sorted: 0.001 ≤ 0.0125, 0.02 ≤ 0.025, 0.04 > 0.0375, 0.3 > 0.05 → the two smallest.
    expect(correctedDrift([0.3, 0.04, 0.001, 0.02], 0.05, "fdr").driftedFeatures).toEqual([2, 3]);
    expect(correctedDrift([0.5, 0.6], 0.05, "fdr").isDrift).toBe(false);
  });
});
