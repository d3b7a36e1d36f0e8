/** React side of core/pipeline-tests.ts's listing: a running pipeline's test cases, run on demand. */
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, type TestFileJson, type TestRunJson } from "../api";
import { caseRows, runSummary } from "../core/pipeline-tests";

export function usePipelineTests(pipeline: string) {
  const [file, setFile] = useState<string>();
  const [tests, setTests] = useState<TestFileJson>();
  const [run, setRun] = useState<TestRunJson>();
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string>();

  const refresh = useCallback(async () => {
    try {
      const listed = await api.tests(pipeline);
      setFile(listed.file);
      setTests(listed.tests);
      setError(listed.problems?.length ? listed.problems.map((p) => `${p.path}: ${p.message}`).join("\n") : undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [pipeline]);
  useEffect(() => void refresh(), [refresh]);

  const runAll = useCallback(async () => {
    setRunning(true);
    try {
      await refresh();
      setRun(await api.runTests(pipeline));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setRunning(false);
    }
  }, [pipeline, refresh]);

  const rows = useMemo(() => caseRows(tests, run), [tests, run]);
  return { file, rows, summary: run && runSummary(run), running, error, run: runAll };
}
