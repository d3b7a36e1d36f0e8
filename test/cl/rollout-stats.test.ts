/** The canary's accuracy check: it rolls back on a drop the labels show, not on noise. */
import { describe, expect, it } from "vitest";
import type { RolloutStatus } from "../../nodes/continual-learning/rollout";
import { lowestAccuracyDrop, normalQuantile } from "../../nodes/continual-learning/statistics";
import { rolloutSummary } from "../../nodes/continual-learning/rollout-summary";

describe("canary accuracy check", () => {
  it("normal quantiles match the tables", () => {
    // Reference values: scipy.stats.norm.ppf.
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 8);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263478740408408, 8);
    expect(normalQuantile(0.9999)).toBeCloseTo(3.719016485455709, 7);
  });

  it("a 7-point drop on 25 labels is noise; a 20-point drop on 400 is not", () => {
    // The Fashion-MNIST example's first canary step: 36% of 25 against 43.7% of 225.
    const noisy = lowestAccuracyDrop({ right: 98, labelled: 225 }, { right: 9, labelled: 25 }, 0.95);
    expect(noisy).toBeLessThan(0.05);
    const real = lowestAccuracyDrop({ right: 320, labelled: 400 }, { right: 240, labelled: 400 }, 0.95);
    expect(real).toBeGreaterThan(0.05);
    // By hand: difference 0.2, standard error sqrt(0.8·0.2/400 + 0.6·0.4/400) = 0.0316, bound 0.2 − 1.645·0.0316.
    expect(real).toBeCloseTo(0.2 - 1.6448536 * Math.sqrt((0.8 * 0.2 + 0.6 * 0.4) / 400), 6);
  });

  it("words a rollout for the history tables", () => {
    const step = (weight: number, passed: boolean) => ({ weight, passed }) as RolloutStatus["steps"][number];
    const status = (mode: RolloutStatus["mode"], state: RolloutStatus["state"], steps: RolloutStatus["steps"]) => ({ mode, state, steps }) as RolloutStatus;
    expect(rolloutSummary(undefined)).toBe("-");
    expect(rolloutSummary(status("canary", "promoted", [step(0.1, true), step(0.25, true), step(0.5, true), step(1, true)]))).toBe("canary promoted 10→25→50→100%");
    expect(rolloutSummary(status("canary", "rolled-back", [step(0.1, true), step(0.25, false)]))).toBe("canary rolled-back at 25%");
    expect(rolloutSummary(status("shadow", "running", []))).toBe("shadow running");
  });
});
