/** React side of core/pipeline-tests.ts's recording: "save as test" on a tapped edge. */
import { useCallback, useState } from "react";
import { api, type Envelope } from "../api";
import { recordCase, traceIdsOf, withCase, type TappedEdge } from "../core/pipeline-tests";

export interface Outcome {
  text: string;
  kind: "ok" | "error";
}

export function useRecordCase(pipeline: string, edge: TappedEdge) {
  const [saving, setSaving] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const save = useCallback(
    async (messages: Envelope[], name: string) => {
      setSaving(true);
      try {
        const traces = await Promise.all(traceIdsOf(messages).map((id) => api.trace(id)));
        const testCase = recordCase(name, edge, traces);
        const { tests } = await api.tests(pipeline);
        const next = withCase(tests, testCase);
        const saved = await api.saveTests(pipeline, next);
        setOutcome({ text: `Saved case "${next.cases[next.cases.length - 1].name}" to ${saved.file} (${saved.cases} cases)`, kind: "ok" });
      } catch (err) {
        setOutcome({ text: `Not saved: ${(err as Error).message}`, kind: "error" });
      } finally {
        setSaving(false);
      }
    },
    [pipeline, edge],
  );
  return { save, saving, outcome };
}
