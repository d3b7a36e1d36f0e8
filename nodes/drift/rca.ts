/**
 * Upstream root-cause analysis of a drift alarm: where did the shift enter the pipeline?
 * On every edge upstream of the detector (the windows rca-windows.ts picks, before vs after
 * the alarm), every feature is tested with the drift nodes' own two-sample tests: numbers
 * with Kolmogorov–Smirnov (ks.ts), strings and booleans with chi-square (chi-square.ts), and,
 * when asked, all numeric features of an edge jointly with MMD (mmd.ts). The p-values of all
 * tests are corrected together (corrections.ts: Bonferroni or Benjamini–Hochberg), and the
 * significant ones ranked by stage — how far their edge is from the pipeline's sources — so
 * the first is the earliest edge and feature that shifted: where the shift entered.
 *
 * Not tested, and listed as skipped with why: a numeric feature that never decreases over both
 * windows and grows (a counter, an id, a time: it differs between any two windows), one with a
 * single value in both, one with fewer than `minValues` values in either window, one whose
 * values mix numbers and strings.
 *
 * @example
 * ```ts
 * import { rootCause } from "./rca";
 * const m = (id, x, parents = []) => ({ id, traceId: id, parents, ts: 0, source: { pipeline: "p", node: "n", port: "out" }, payload: { x } });
 * const xs = Array.from({ length: 40 }, (_, i) => m(`m${i}`, (i % 10) + (i >= 20 ? 20 : 0)));
 * const alarm = {
 *   id: "a", pipeline: "p", node: "d", traceId: "t", ts: 0, edges: ["e"],
 *   event: { kind: "drift", window: { size: 20, firstMessage: "m20", lastMessage: "m39" } },
 *   recorded: [{ id: "e", from: { node: "g", port: "out" }, to: { node: "d", port: "in" }, messages: xs, older: 0, later: [] }],
 * };
 * const report = rootCause(alarm);
 * console.log(report.entry.edge, report.entry.feature, report.entry.statistic);
 * // e payload.x 1
 * ```
 */
import type { DriftAlarm, RcaReport, RcaTest } from "../../sdk/api-types";
import { chiSquareTest, countCategories } from "./chi-square";
import { correctedDrift, type Correction } from "./corrections";
import { ksTwoSample } from "./ks";
import { mmdTest } from "./mmd";
import { alarmWindows, columns, type Leaf } from "./rca-windows";

export interface RcaOptions {
  /** Significance level before the correction (0.05). */
  alpha?: number;
  correction?: Correction;
  /** Also test all numeric features of each edge jointly with MMD (100 permutations, seeded). */
  mmd?: boolean;
  /** Values a feature needs in each window to be tested (5). */
  minValues?: number;
}

type Untested = Omit<RcaTest, "significant">;

export function rootCause(alarm: DriftAlarm, { alpha = 0.05, correction = "bonferroni", mmd = false, minValues = 5 }: RcaOptions = {}): RcaReport {
  const stages = edgeStages(alarm);
  const tests: Untested[] = [];
  const skipped: RcaReport["skipped"] = [];
  for (const { edge, before, after } of alarmWindows(alarm)) {
    const where = { edge: edge.id, from: `${edge.from.node}.${edge.from.port}`, to: `${edge.to.node}.${edge.to.port}`, stage: stages.get(edge.id) ?? 0 };
    const beforeColumns = columns(before);
    const afterColumns = columns(after);
    const numeric: string[] = [];
    for (const feature of new Set([...beforeColumns.keys(), ...afterColumns.keys()])) {
      const a = beforeColumns.get(feature) ?? [];
      const b = afterColumns.get(feature) ?? [];
      const why = untestable(a, b, minValues);
      if (why) {
        skipped.push({ edge: edge.id, feature, reason: why });
        continue;
      }
      const counts = { before: a.length, after: b.length };
      if (typeof a[0] === "number") {
        numeric.push(feature);
        const r = ksTwoSample(a as number[], b as number[]);
        tests.push({ ...where, feature, test: "ks", statistic: r.statistic, pValue: r.pValue, ...counts });
      } else {
        const categories = [...new Set([...a, ...b])];
        const r = chiSquareTest(countCategories(a, categories).counts, countCategories(b, categories).counts);
        tests.push({ ...where, feature, test: "chi-square", statistic: r.statistic, pValue: r.pValue, ...counts });
      }
    }
    if (mmd && numeric.length > 0) {
      // Messages holding every tested numeric feature, as points.
      const points = (messages: typeof before) =>
        columnsOf(messages, numeric).filter((row): row is number[] => row.every((v) => typeof v === "number"));
      const [a, b] = [points(before), points(after)];
      if (a.length >= minValues && b.length >= minValues) {
        const r = mmdTest(a, b, { seed: 0 });
        tests.push({ ...where, feature: "*", test: "mmd", statistic: r.statistic, pValue: r.pValue, before: a.length, after: b.length });
      } else skipped.push({ edge: edge.id, feature: "*", reason: `MMD: fewer than ${minValues} messages hold every numeric feature` });
    }
  }

  const corrected = correctedDrift(tests.map((t) => t.pValue), alpha, correction);
  const significant = new Set(corrected.driftedFeatures);
  const ranking: RcaTest[] = tests
    .map((t, i) => ({ ...t, significant: significant.has(i) }))
    .sort((x, y) => Number(y.significant) - Number(x.significant) || (x.significant ? x.stage - y.stage : 0) || x.pValue - y.pValue || y.statistic - x.statistic);
  const { event: _event, recorded: _recorded, ...summary } = alarm;
  return { alarm: summary, alpha, correction, threshold: corrected.threshold, ranking, ...(ranking[0]?.significant && { entry: ranking[0] }), skipped };
}

/** Why a feature is not tested, or undefined when it is. */
function untestable(before: Leaf[], after: Leaf[], minValues: number): string | undefined {
  if (before.length < minValues || after.length < minValues) return `fewer than ${minValues} values in a window (${before.length} before, ${after.length} after)`;
  const all = [...before, ...after];
  const kinds = new Set(all.map((v) => typeof v));
  if (kinds.size > 1) return "numbers and strings mixed";
  if (new Set(all).size === 1) return "the same value in both windows";
  if (typeof all[0] === "number" && (all as number[]).every((v, i) => i === 0 || v >= (all[i - 1] as number)))
    return "grows with every message (a counter, an id or a time)";
  return undefined;
}

/** Each message's values of `features`, undefined where it lacks one. */
function columnsOf(messages: Parameters<typeof columns>[0], features: string[]): (Leaf | undefined)[][] {
  return messages.map((m) => {
    const row = columns([m]);
    return features.map((f) => row.get(f)?.[0]);
  });
}

/**
 * Stage of each recorded edge: 0 when its source node has no recorded edge coming in, else
 * one more than the largest stage of the edges into that node (a cycle counts once).
 */
function edgeStages(alarm: DriftAlarm): Map<string, number> {
  const nodeStage = new Map<string, number>();
  const visiting = new Set<string>();
  const stageOf = (node: string): number => {
    const known = nodeStage.get(node);
    if (known !== undefined) return known;
    if (visiting.has(node)) return 0;
    visiting.add(node);
    const into = alarm.recorded.filter((e) => e.to.node === node);
    const stage = into.length ? 1 + Math.max(...into.map((e) => stageOf(e.from.node))) : 0;
    visiting.delete(node);
    nodeStage.set(node, stage);
    return stage;
  };
  return new Map(alarm.recorded.map((e) => [e.id, stageOf(e.from.node)]));
}
