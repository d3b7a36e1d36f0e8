import { describe, expect, it } from "vitest";
import { clMetrics } from "../../nodes/continual-learning/metrics";

describe("Avalanche CL metrics", () => {
  it("average accuracy, forgetting and BWT of a 3-step accuracy matrix, by hand", () => {
    const m = clMetrics([
      [0.9, null, null],
      [0.7, 0.8, null],
      [0.6, 0.75, 0.95],
    ]);
    expect(m.averageAccuracy).toBeCloseTo((0.6 + 0.75 + 0.95) / 3, 12);
    // Forgetting on e: accuracy when first learnt − last accuracy; e=0: 0.9 − 0.6, e=1: 0.8 − 0.75; the last experience is not counted.
    expect(m.forgettingPerExperience.map((v) => +v.toFixed(12))).toEqual([0.3, 0.05]);
    expect(m.forgetting).toBeCloseTo(0.175, 12);
    expect(m.bwt).toBeCloseTo(-0.175, 12);
  });

  it("a single step has no forgetting; an improved old experience gives positive BWT", () => {
    expect(clMetrics([[0.8]])).toMatchObject({ averageAccuracy: 0.8, forgetting: 0, bwt: 0 });
    expect(clMetrics([[0.5, null], [0.7, 0.9]]).bwt).toBeCloseTo(0.2, 12);
  });
});
