/** React side of core/pipeline-tests.ts's recording: "save as test" on a tapped edge. */
import { useCallback, useState } from "react";
import { api, ApiError, type Envelope, type Problem } from "../api";
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
        // A test file that is not valid (edited by hand): each problem with its JSON path.
        const problems = err instanceof ApiError ? (err.body as { problems?: Problem[] } | undefined)?.problems : undefined;
        const details = problems?.map((p) => `\n${p.path}: ${p.message}`).join("") ?? "";
        setOutcome({ text: `Not saved: ${(err as Error).message}${details}`, kind: "error" });
      } finally {
        setSaving(false);
      }
    },
    [pipeline, edge],
  );
  return { save, saving, outcome };
}
