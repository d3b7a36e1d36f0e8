import { describe, expect, it } from "vitest";
import type { RcaReport, RcaTest } from "../../../sdk";
import { entrySentence, MAX_HEIGHT, rcaBars, testLabel } from "./rca-chart";

const test = (feature: string, pValue: number, significant: boolean, stage = 0): RcaTest => ({
  edge: `e${stage}`, from: `n${stage}.out`, to: `n${stage + 1}.in`, stage, feature, test: "ks", statistic: 0.5, pValue, significant, before: 300, after: 300,
});
const report = (ranking: RcaTest[]): RcaReport => ({
  alarm: { id: "a", pipeline: "p", node: "d", traceId: "t", ts: 0, edges: [] },
  alpha: 0.05, correction: "bonferroni", threshold: 0.01, ranking, ...(ranking[0]?.significant && { entry: ranking[0] }), skipped: [],
});

describe("the RCA panel's chart", () => {
  it("draws −log10 p, significant tests apart, zero p at the top, and the threshold line", () => {
    const bars = rcaBars(report([test("payload.x[1]", 0, true), test("payload.b", 1e-20, true, 1), test("payload.a", 0.5, false)]), 10);
    expect(bars.labels).toEqual(["n0.out→n1.in x[1]", "n1.out→n2.in b", "n0.out→n1.in a"]);
    expect(bars.significant).toEqual([MAX_HEIGHT, 20, null]);
    expect(bars.other[0]).toBeNull();
    expect(bars.other[2]).toBeCloseTo(0.30103, 5);
    expect(bars.threshold).toBeCloseTo(2, 12);
    expect(rcaBars(report([test("payload.a", 0.5, false), test("payload.c", 0.6, false)]), 1).labels).toHaveLength(1);
  });

  it("names the entry, or says nothing shifted", () => {
    expect(entrySentence(report([test("payload.x[1]", 1e-9, true), test("payload.a", 0.5, false)]))).toBe(
      "The shift entered at n0.out → n1.in, feature payload.x[1] (ks, p = 1.00e-9; 1 of 2 tests shifted).",
    );
    expect(entrySentence(report([test("payload.a", 0.5, false)]))).toBe("No upstream edge shifted significantly (1 tests, bonferroni).");
    expect(testLabel(test("payload", 0.5, false))).toBe("n0.out→n1.in payload");
  });
});
