/**
 * What the dashboard's root-cause panel draws from an RCA report (`GET /api/alarms/:id/rca`,
 * nodes/drift/rca.ts): one bar per test in ranking order, its height −log10 p so KS, chi-square
 * and MMD tests compare on one scale, significant ones apart from the rest, and the corrected
 * threshold as a line.
 */
import type { AlarmSummary, RcaReport, RcaTest } from "../../../sdk";

/** p-values this small (or 0, an exact p under double precision) are drawn at this height. */
export const MAX_HEIGHT = 300;

export interface RcaBars {
  labels: string[];
  /** −log10 p of each significant test, null where the test is not. */
  significant: (number | null)[];
  other: (number | null)[];
  /** −log10 of the corrected threshold: bars above it are significant. */
  threshold: number;
}

export const minusLog10 = (p: number) => (p > 0 ? Math.min(MAX_HEIGHT, -Math.log10(p)) : MAX_HEIGHT);

/** A test's label: the edge's two ends and the feature, `gen.out→A.in x[1]`. */
export function testLabel(t: RcaTest): string {
  return `${t.from}→${t.to} ${t.feature.replace(/^payload\.?/, "") || "payload"}`;
}

export function rcaBars(report: RcaReport, top: number): RcaBars {
  const shown = report.ranking.slice(0, top);
  return {
    labels: shown.map(testLabel),
    significant: shown.map((t) => (t.significant ? minusLog10(t.pValue) : null)),
    other: shown.map((t) => (t.significant ? null : minusLog10(t.pValue))),
    threshold: minusLog10(report.threshold),
  };
}

/** The panel's headline: where the shift entered, or that no upstream edge shifted. */
export function entrySentence(report: RcaReport): string {
  const e = report.entry;
  if (!e) return `No upstream edge shifted significantly (${report.ranking.length} tests, ${report.correction}).`;
  return `The shift entered at ${e.from} → ${e.to}, feature ${e.feature} (${e.test}, p = ${e.pValue.toPrecision(3)}; ${report.ranking.filter((t) => t.significant).length} of ${report.ranking.length} tests shifted).`;
}

/** An alarm as the picker lists it. */
export function alarmLabel(a: AlarmSummary): string {
  return `${new Date(a.ts).toLocaleTimeString()} · ${a.node}${a.reason ? ` · ${a.reason}` : ""}`;
}
