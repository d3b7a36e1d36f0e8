/**
 * Recording test cases from a tapped edge and showing a pipeline's cases, framework-free
 * (hooks/usePipelineTests.ts and hooks/useRecordCase.ts wire it to the panels).
 *
 * A recorded case is what provenance says happened: its inputs are the messages that entered
 * the pipeline in the traces of the messages chosen on the edge (a trace's messages without
 * parents, sent by the input node that made them), and it expects the edge to carry exactly
 * what the edge's source port emitted in those traces. Replayed from a fresh pipeline, so an
 * output that depended on earlier traffic (a window, a detector's state) needs that traffic
 * recorded too.
 */
import type { CaseResultJson, Envelope, TestCaseJson, TestFileJson, TestRunJson, Trace } from "../api";

export interface TappedEdge {
  id: string;
  /** The edge's source: the node and output port whose messages it carries. */
  node: string;
  port: string;
}

const byTime = (a: Envelope, b: Envelope) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The case the traces of the chosen messages make; throws when a trace no longer holds its input. */
export function recordCase(name: string, edge: TappedEdge, traces: readonly Trace[]): TestCaseJson {
  const inputs = new Map<string, { node: string; port: string; payloads: unknown[] }>();
  const observed: unknown[] = [];
  // Oldest trace first, as the messages entered the pipeline.
  const ordered = traces.map((t) => ({ trace: t, messages: [...t.messages].sort(byTime) })).sort((a, b) => (a.messages[0]?.ts ?? 0) - (b.messages[0]?.ts ?? 0));
  for (const { trace, messages } of ordered) {
    const roots = messages.filter((m) => m.parents.length === 0);
    if (roots.length === 0) throw new Error(`trace ${trace.traceId} no longer holds the message that entered the pipeline (the runtime keeps the last settings.traceCapacity messages)`);
    for (const m of roots) {
      const key = `${m.source.node}.${m.source.port}`;
      if (!inputs.has(key)) inputs.set(key, { node: m.source.node, port: m.source.port, payloads: [] });
      inputs.get(key)!.payloads.push(m.payload);
    }
    for (const m of messages) if (m.source.node === edge.node && m.source.port === edge.port) observed.push(m.payload);
  }
  return { name, inputs: [...inputs.values()], expect: [{ at: edge.id, payloads: observed }] };
}

/** The trace ids of the chosen messages, each once, in the order chosen. */
export const traceIdsOf = (messages: readonly Envelope[]) => [...new Set(messages.map((m) => m.traceId))];

/** `tests` with `testCase` added at the end, renamed "name (2)", "name (3)"… when its name is taken. */
export function withCase(tests: TestFileJson, testCase: TestCaseJson): TestFileJson {
  const taken = new Set(tests.cases.map((c) => c.name));
  let name = testCase.name;
  for (let n = 2; taken.has(name); n++) name = `${testCase.name} (${n})`;
  return { ...tests, cases: [...tests.cases, { ...testCase, name }] };
}

export const defaultCaseName = (edge: string, at: Date) => `recorded on ${edge} at ${at.toISOString().slice(0, 19).replace("T", " ")}`;

export type CaseState = "not run" | "ok" | "fail" | "error";

export interface CaseRow {
  name: string;
  state: CaseState;
  /** The failures (each with its diff) or the error, as the runner wrote them. */
  detail?: string;
  ms?: number;
}

const stateOf = (r: CaseResultJson): CaseState => (r.error ? "error" : r.failures.length ? "fail" : "ok");

/** One row per case of the file, with its outcome in `run` when that run had a case of that name. */
export function caseRows(tests: TestFileJson | undefined, run: TestRunJson | undefined): CaseRow[] {
  const results = new Map((run?.cases ?? []).map((r) => [r.name, r]));
  return (tests?.cases ?? []).map((c) => {
    const r = results.get(c.name);
    if (!r) return { name: c.name, state: "not run" };
    return { name: c.name, state: stateOf(r), detail: r.error ?? (r.failures.length ? r.failures.join("\n\n") : undefined), ms: r.ms };
  });
}

/** "3 passed, 1 failed" for a run, or the reason none ran. */
export function runSummary(run: TestRunJson): string {
  if (run.error) return `the test file is not valid: ${run.error}`;
  const failed = run.cases.filter((c) => stateOf(c) !== "ok").length;
  return `${run.cases.length - failed} passed, ${failed} failed (${Math.round(run.ms)} ms)`;
}
