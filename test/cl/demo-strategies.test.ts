/**
 * The three-strategy CL benchmark (bench/cl-demo.ts) on a reduced stream: static, stateless
 * and stateful side by side on real Fashion-MNIST data, through the gate and a real registry.
 */
import { describe, expect, it } from "vitest";
import { defaultDemoOptions, runClDemo } from "../../bench/cl-demo";

describe("CL benchmark on a reduced stream", () => {
  it("static, stateless and stateful side by side: both learners beat the static model after the shift", async () => {
    const options = defaultDemoOptions(true);
    options.phases = [
      { name: "classes 0-4", count: 400, classes: [0, 1, 2, 3, 4] },
      { name: "new classes 5-9", count: 1200, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
    ];
    options.initialSamples = 800;
    options.testPerExperience = 300;
    options.trigger.cooldown = 500;
    options.stateless.epochs = 3;
    options.stateful.epochs = 2;
    const result = await runClDemo(options);
    const by = Object.fromEntries(result.strategies.map((s) => [s.strategy, s]));
    expect(by.static.updates).toEqual([]);
    for (const learner of [by.stateless, by.stateful]) {
      expect(learner.updates.some((u) => u.decision === "promoted")).toBe(true);
      expect(learner.finalAccuracy).toBeGreaterThan(by.static.finalAccuracy + 0.1);
      expect(learner.timeToPromotion[0].samples).toBeGreaterThan(0);
      expect(learner.cl.accuracyMatrix).toHaveLength(2);
    }
    // Stateful trains on new data + replay only, stateless on everything so far.
    expect(by.stateful.compute.samplesSeen).toBeLessThan(by.stateless.compute.samplesSeen);
  }, 180_000);
});
