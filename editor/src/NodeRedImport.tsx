/**
 * Import of a pasted Node-RED flows.json: the runtime converts it (POST /api/import/node-red, the
 * converter `evoflow import` runs), the dialog shows each node's mapping and what was not carried,
 * and opens the pipeline of the tab chosen on the canvas.
 */
import { useState } from "react";
import { api, type NodeRedImport as Imported } from "./api";

export function NodeRedImport({ onOpen, onClose }: { onOpen(pipeline: unknown, source: string): void; onClose(): void }) {
  const [text, setText] = useState("");
  const [result, setResult] = useState<Imported>();
  const [error, setError] = useState<string>();
  const [chosen, setChosen] = useState(0);

  const convert = async () => {
    setError(undefined);
    setResult(undefined);
    let flows: unknown;
    try {
      flows = JSON.parse(text);
    } catch (err) {
      return setError(`Not JSON: ${(err as Error).message}`);
    }
    try {
      setResult(await api.importNodeRed(flows));
      setChosen(0);
    } catch (err) {
      const body = (err as { body?: { problems?: { path: string; message: string }[] } }).body;
      setError(body?.problems?.map((p) => `${p.path}: ${p.message}`).join("\n") ?? (err as Error).message);
    }
  };

  const picked = result?.pipelines[chosen];
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal" onClick={(e) => e.stopPropagation()} data-testid="node-red-import">
        <div className="modal-title">
          Import a Node-RED flow
          <button type="button" className="link" onClick={onClose}>
            close
          </button>
        </div>
        <textarea
          data-testid="node-red-flows"
          rows={8}
          style={{ width: "100%", fontFamily: "monospace" }}
          placeholder="Paste flows.json (Node-RED: Menu → Export → Copy to clipboard)"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="button" className="primary" onClick={() => void convert()} data-testid="node-red-convert">
          Convert
        </button>
        {error && <pre className="field-problem" data-testid="node-red-error">{error}</pre>}
        {result && (
          <>
            <table className="mono" data-testid="node-red-report">
              <tbody>
                {result.report.map((l) => (
                  <tr key={l.nodeRedId} className={l.mapping === "not carried" ? "warn" : ""}>
                    <td>{l.pipeline ?? "-"}</td>
                    <td>{l.nodeRedType}{l.name ? ` "${l.name}"` : ""}</td>
                    <td>{l.mapping === "node" ? `→ ${l.type} ${l.id}` : l.mapping}</td>
                    <td>{l.notes.join("; ")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {result.pipelines.length > 0 && (
              <div>
                <select value={chosen} onChange={(e) => setChosen(Number(e.target.value))} data-testid="node-red-tab">
                  {result.pipelines.map((p, i) => (
                    <option key={p.name} value={i}>
                      {p.name} (tab "{p.tab}"){p.problems.length ? ` · ${p.problems.length} problems` : ""}
                    </option>
                  ))}
                </select>
                <button type="button" className="primary" disabled={!picked} data-testid="node-red-open" onClick={() => picked && onOpen(picked.pipeline, `Node-RED tab "${picked.tab}"`)}>
                  Open on the canvas
                </button>
              </div>
            )}
          </>
        )}
      </div>
    </div>
  );
}
