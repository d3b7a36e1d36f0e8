/**
 * The provenance of a trace: each output with, below it, the messages it was made from; and
 * its explanations. "Explain" asks the runtime to explain the trace's model call (Kernel SHAP,
 * or occlusion for images: nodes/explain/), which keeps the answer in the trace; explanations
 * made by explain.* nodes on the pipeline show here too.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Explanation, type Trace, type TraceNode } from "./api";
import { findTensors, imageShape, previewJson, TensorImage } from "./TensorView";

function TraceTree({ nodes }: { nodes: TraceNode[] }) {
  return (
    <ul className="trace-tree">
      {nodes.map((n) => (
        <li key={n.id}>
          <div className="trace-node">
            <b>
              {n.node}.{n.port}
            </b>{" "}
            <span className="muted">{new Date(n.ts).toISOString().slice(11, 23)}</span>
            {n.model && <span className="badge">model {n.model.name}@{n.model.version}</span>}
            <div className="trace-payload">
              {findTensors(n.payload).slice(0, 1).map((t) => (
                <TensorImage key={t.path} tensor={t} size={28} />
              ))}
              <span className="mono">{previewJson(n.payload).slice(0, 140)}</span>
            </div>
          </div>
          {n.parents.length > 0 && <TraceTree nodes={n.parents} />}
        </li>
      ))}
    </ul>
  );
}

const isExplanation = (p: unknown): p is Explanation =>
  typeof p === "object" && p !== null && ((p as Explanation).method === "kernel-shap" || (p as Explanation).method === "occlusion") && typeof (p as Explanation).attributions === "object";

const num = (v: number) => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(2) : v.toFixed(3));

/** Attributions drawn over the image: red where covering or removing the pixel lowers the score, blue where it raises it. */
function AttributionMap({ values, shape }: { values: ArrayLike<number>; shape: [number, number] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const ctx = ref.current?.getContext("2d");
    if (!ctx) return;
    const [h, w] = shape;
    let peak = 0;
    for (let i = 0; i < h * w; i++) peak = Math.max(peak, Math.abs(values[i]));
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const a = peak ? values[i] / peak : 0;
      const fade = Math.round(255 * (1 - Math.abs(a)));
      img.data.set(a >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
  }, [values, shape[0], shape[1]]);
  return <canvas ref={ref} width={shape[1]} height={shape[0]} className="attribution-map" data-testid="attribution-map" />;
}

/** The features with the largest attributions, as signed bars. */
function AttributionBars({ values }: { values: ArrayLike<number> }) {
  const top = Array.from(values, (v, i) => ({ i, v }))
    .sort((a, b) => Math.abs(b.v) - Math.abs(a.v))
    .slice(0, 12);
  const peak = Math.max(...top.map((t) => Math.abs(t.v)), 1e-12);
  return (
    <div className="attribution-bars">
      {top.map(({ i, v }) => (
        <div key={i} className="attribution-row" data-testid="attribution-bar" data-feature={i} data-value={v}>
          <span className="mono">x[{i}]</span>
          <span className="attribution-track">
            <span className={`attribution-bar ${v >= 0 ? "up" : "down"}`} style={{ width: `${(Math.abs(v) / peak) * 50}%`, [v >= 0 ? "left" : "right"]: "50%" }} />
          </span>
          <span className="mono">{num(v)}</span>
        </div>
      ))}
    </div>
  );
}

function ExplanationView({ e }: { e: Explanation }) {
  const values = e.attributions.data;
  const shape = imageShape({ path: "", dtype: "float32", shape: e.attributions.shape, data: values });
  return (
    <div className="explanation" data-testid="explanation" data-method={e.method}>
      <div>
        <b>{e.method === "kernel-shap" ? "Kernel SHAP" : "Occlusion"}</b> · model {e.model.name}@{e.model.version} · {e.output}[{e.target}] score {num(e.score)}
        {e.baseValue !== undefined && <> · base {num(e.baseValue)}</>}
      </div>
      <div className="muted">
        {e.method === "kernel-shap"
          ? `${e.exact ? "exact" : "sampled"}: ${e.coalitions} coalitions × ${e.background} background rows`
          : `patch ${e.patch?.size}px, stride ${e.patch?.stride}, fill ${e.patch?.fill}`}{" "}
        · {e.evaluations} model rows · {e.ms} ms
      </div>
      <div className="explanation-body">
        {shape && <AttributionMap values={values} shape={shape} />}
        {(!shape || e.method === "kernel-shap") && <AttributionBars values={values} />}
      </div>
    </div>
  );
}

function ExplainButtons({ traceId, onExplained }: { traceId: string; onExplained(): void }) {
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const explain = (method: Explanation["method"]) => {
    setBusy(method);
    setError(undefined);
    api.explain(traceId, { method }).then(onExplained, (err: Error) => setError(err.message)).finally(() => setBusy(undefined));
  };
  return (
    <div className="explain-buttons">
      <button type="button" disabled={busy !== undefined} onClick={() => explain("kernel-shap")} data-testid="explain-kernel-shap" title="Shapley values of each input feature, against the model's recent inputs">
        {busy === "kernel-shap" ? "Explaining…" : "Explain (Kernel SHAP)"}
      </button>
      <button type="button" disabled={busy !== undefined} onClick={() => explain("occlusion")} data-testid="explain-occlusion" title="For images: how much covering each patch lowers the score">
        {busy === "occlusion" ? "Explaining…" : "Explain (occlusion)"}
      </button>
      {error && <span className="field-problem" data-testid="explain-error">{error}</span>}
    </div>
  );
}

export function TraceView({ traceId, onClose }: { traceId: string; onClose(): void }) {
  const [trace, setTrace] = useState<Trace>();
  const [error, setError] = useState<string>();
  const load = useCallback(() => {
    api.trace(traceId).then(setTrace, (err: Error) => setError(err.message));
  }, [traceId]);
  useEffect(load, [load]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  const explanations = trace?.messages.filter((m) => isExplanation(m.payload)) ?? [];
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal" onClick={(e) => e.stopPropagation()} data-testid="trace-view">
        <div className="modal-title">
          Trace <span className="mono">{traceId}</span>
          <button type="button" className="link" onClick={onClose}>
            close
          </button>
        </div>
        {error && <div className="field-problem">{error}</div>}
        {trace && (
          <>
            <div className="muted">
              pipeline {trace.pipeline} · {trace.messages.length} messages
            </div>
            <ExplainButtons traceId={traceId} onExplained={load} />
            {explanations.map((m) => (
              <ExplanationView key={m.id} e={m.payload as Explanation} />
            ))}
            <TraceTree nodes={trace.outputs} />
          </>
        )}
      </div>
    </div>
  );
}
