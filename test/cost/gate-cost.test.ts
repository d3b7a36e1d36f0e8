/**
 * The CL gate compares a candidate's cost with its champion's: CPU per 1,000 inferences measured
 * on real ONNX files by onnxruntime, one after the other on the gate's thread. A candidate of the
 * champion's shape passes the default 2× bound; one with two 2048-wide hidden layers in place of
 * none costs far more and is refused, with both figures in the reason; the check is off at 0.
 */
import { describe, expect, it } from "vitest";
import { gateConfigSchema, runGate } from "../../nodes/continual-learning/gate";
import type { LabelledSet } from "../../nodes/continual-learning/fashion-mnist";
import { modelCard } from "../../nodes/continual-learning/history";
import { EnergyMeter } from "../../runtime/energy";
import { makeMlp } from "../fixtures/mlp";

function holdout(count: number, features: number): LabelledSet {
  const x = new Float32Array(count * features).map((_, i) => Math.sin(i));
  const y = new Int32Array(count).map((_, i) => i % 3);
  return { x, y, count, features };
}

// Accuracy checks left open: cost is what is judged here.
const open = { minAccuracy: 0, maxRegression: 1, maxClassRegression: 1, maxGoldenRegression: 1, maxP99Ms: 10_000, latencyRuns: 200 };
const champion = makeMlp({ sizes: [64, 3], seed: 1 }).bytes;
const cost = new EnergyMeter({ energy: "model", wattsPerCore: 5, pricePerCoreHour: 3.6 });

describe("gate: cost against the champion", () => {
  it("passes a candidate of the champion's shape and records both costs (per 1,000, priced, energy source said)", async () => {
    const report = await runGate({ candidate: makeMlp({ sizes: [64, 3], seed: 2 }).bytes, champion: { bytes: champion, version: 1 }, holdout: holdout(60, 64), config: gateConfigSchema.parse(open), cost });
    const check = report.checks.find((c) => c.name === "cost")!;
    expect(check).toMatchObject({ passed: true, threshold: 2 });
    expect(check.value).toBeGreaterThan(0.5);
    expect(check.value).toBeLessThan(2);
    const c = report.candidate.cost!;
    expect(c.cpuSeconds).toBeGreaterThan(0);
    expect(c.energySource).toBe("model");
    expect(c.joules).toBeCloseTo(c.cpuSeconds * 5, 9);
    expect(c.cost).toBeCloseTo(c.cpuSeconds * 0.001, 9);
    expect(report.champion!.cost!.cpuSeconds).toBeGreaterThan(0);
    // The model card carries what the gate measured, beside the champion's.
    const card = modelCard("m", 2, undefined, { id: "m@2", service: "s", model: "m", version: 2, at: report.createdAt, validation: report } as never);
    expect(card.cost).toEqual({ candidate: c, champion: { ...report.champion!.cost!, version: 1 } });
  });

  it("refuses a candidate costing more than maxCostRatio × the champion, naming both; 0 turns the check off", async () => {
    const heavy = makeMlp({ sizes: [64, 2048, 2048, 3], seed: 3 }).bytes;
    const report = await runGate({ candidate: heavy, champion: { bytes: champion, version: 1 }, holdout: holdout(60, 64), config: gateConfigSchema.parse(open), cost });
    const check = report.checks.find((c) => c.name === "cost")!;
    expect(check.passed).toBe(false);
    expect(check.value).toBeGreaterThan(2);
    expect(report.passed).toBe(false);
    expect(report.reasons.find((r) => r.startsWith("cost: "))).toMatch(/CPU per 1,000 inferences [\d.]+ ms vs champion [\d.]+ ms: [\d.]+×, allowed ≤ 2×/);

    const off = await runGate({ candidate: heavy, champion: { bytes: champion, version: 1 }, holdout: holdout(60, 64), config: gateConfigSchema.parse({ ...open, maxCostRatio: 0 }), cost });
    expect(off.checks.map((c) => c.name)).not.toContain("cost");
    expect(off.candidate.cost!.cpuSeconds).toBeGreaterThan(off.champion!.cost!.cpuSeconds);
  });
});
