import { describe, expect, it } from "vitest";
import type { Envelope, Trace } from "../api";
import { caseRows, recordCase, runSummary, traceIdsOf, withCase } from "./pipeline-tests";

let n = 0;
const msg = (traceId: string, node: string, port: string, payload: unknown, parents: string[] = [], ts = ++n): Envelope => ({
  id: `m${ts}`,
  traceId,
  parents,
  ts,
  source: { pipeline: "hello", node, port },
  payload,
});

describe("recording a case from a tapped edge", () => {
  const request = msg("t1", "request", "out", { x: [1, 2] });
  const stats = msg("t1", "stats", "out", { sum: 3 }, [request.id]);
  const tag = msg("t1", "tag", "out", { sum: 3, pipeline: "hello" }, [stats.id]);
  // Listed out of order, as a trace may come back: the case follows the messages' times.
  const trace: Trace = { traceId: "t1", pipeline: "hello", messages: [tag, stats, request], outputs: [] };

  it("takes the input from the trace's message without parents and expects what the edge's source emitted", () => {
    expect(recordCase("sums", { id: "stats_out-tag_in", node: "stats", port: "out" }, [trace])).toEqual({
      name: "sums",
      inputs: [{ node: "request", port: "out", payloads: [{ x: [1, 2] }] }],
      expect: [{ at: "stats_out-tag_in", payloads: [{ sum: 3 }] }],
    });
  });

  it("joins several traces oldest first (a tap lists the newest first), one input per input node", () => {
    const r2 = msg("t2", "request", "out", { x: [5] });
    const s2 = msg("t2", "stats", "out", { sum: 5 }, [r2.id]);
    const second: Trace = { traceId: "t2", pipeline: "hello", messages: [s2, r2], outputs: [] };
    const recorded = recordCase("two", { id: "e", node: "stats", port: "out" }, [second, trace]);
    expect(recorded.inputs).toEqual([{ node: "request", port: "out", payloads: [{ x: [1, 2] }, { x: [5] }] }]);
    expect(recorded.expect).toEqual([{ at: "e", payloads: [{ sum: 3 }, { sum: 5 }] }]);
    expect(traceIdsOf([tag, stats, s2])).toEqual(["t1", "t2"]);
  });

  it("refuses a trace that no longer holds its input", () => {
    expect(() => recordCase("x", { id: "e", node: "tag", port: "out" }, [{ ...trace, messages: [tag, stats] }])).toThrow(/no longer holds/);
  });

  it("adds a case under a name not yet taken", () => {
    const file = { cases: [{ name: "a", expect: [] }, { name: "a (2)", expect: [] }] };
    expect(withCase(file, { name: "a", expect: [] }).cases.map((c) => c.name)).toEqual(["a", "a (2)", "a (3)"]);
    expect(file.cases).toHaveLength(2);
  });
});

describe("the case list", () => {
  const tests = { cases: [{ name: "ok one", expect: [] }, { name: "bad one", expect: [] }, { name: "new one", expect: [] }] };
  const run = {
    file: "x.test.json",
    ms: 120,
    cases: [
      { name: "ok one", ms: 10, failures: [] },
      { name: "bad one", ms: 11, failures: ["e: payloads differ:\n- 1\n+ 2"] },
    ],
  };

  it("shows each case's outcome and diff, and the cases a run did not have as not run", () => {
    expect(caseRows(tests, run)).toEqual([
      { name: "ok one", state: "ok", detail: undefined, ms: 10 },
      { name: "bad one", state: "fail", detail: "e: payloads differ:\n- 1\n+ 2", ms: 11 },
      { name: "new one", state: "not run" },
    ]);
    expect(runSummary(run)).toBe("1 passed, 1 failed (120 ms)");
    expect(caseRows(undefined, undefined)).toEqual([]);
  });
});
