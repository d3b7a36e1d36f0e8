/** A running pipeline's test cases (`<name>.test.json`), run against what is deployed, each with its outcome and diff. */
import { usePipelineTests } from "./hooks/usePipelineTests";

export function TestsPanel({ pipeline }: { pipeline: string }) {
  const { file, rows, summary, running, error, run } = usePipelineTests(pipeline);
  return (
    <div data-testid="tests-panel">
      <h4>Tests</h4>
      {file && <div className="muted mono">{file}</div>}
      {error && <div className="field-problem">{error}</div>}
      {rows.length === 0 && <div className="muted">No cases yet: tap an edge, pick a message and save it as a test.</div>}
      <ul className="test-list">
        {rows.map((r) => (
          <li key={r.name} data-testid="test-case" data-state={r.state} className={`test-${r.state.replace(" ", "-")}`}>
            <span className="test-state">{r.state === "ok" ? "✓" : r.state === "not run" ? "·" : "✗"}</span> {r.name}
            {r.ms !== undefined && <span className="muted"> ({Math.round(r.ms)} ms)</span>}
            {r.detail && (
              <pre className="test-diff" data-testid="test-diff">
                {r.detail}
              </pre>
            )}
          </li>
        ))}
      </ul>
      {rows.length > 0 && (
        <button type="button" onClick={() => void run()} disabled={running} data-testid="run-tests" title="Runs each case on a fresh copy of the pipeline as deployed now">
          {running ? "Running…" : "Run tests"}
        </button>
      )}
      {summary && (
        <span className="muted" data-testid="tests-summary">
          {" "}
          {summary}
        </span>
      )}
    </div>
  );
}
