/**
 * The drift page (`#/drift`): a run of `evoflow drift eval --json`, loaded from its file,
 * as a chart of detection delay and false alarms per detector configuration, and a table.
 * Loaded from a file rather than the API: evaluations run offline (in CI, on a laptop),
 * and the JSON they write is the record to compare.
 */
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";

interface EvalRow {
  detector: string;
  params: Record<string, unknown>;
  detection_delay: number | null;
  false_alarm_rate: number | null;
  missed_detection_rate: number | null;
  f1: number | null;
}

const label = (r: EvalRow) => `${r.detector} ${JSON.stringify(r.params)}`;

function parseRun(text: string): EvalRow[] {
  const rows = JSON.parse(text) as unknown;
  if (!Array.isArray(rows) || rows.some((r) => typeof r?.detector !== "string")) throw new Error("not the output of `evoflow drift eval --json` (an array of rows with a detector)");
  return rows as EvalRow[];
}

function EvalChart({ rows }: { rows: EvalRow[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const x = rows.map((_, i) => i);
    const plot = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth - 4),
        height: 240,
        scales: { x: { time: false }, alarms: {} },
        axes: [
          { values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) && rows[t] ? label(rows[t]) : "")) },
          { label: "detection delay (samples)", size: 60 },
          { scale: "alarms", side: 1, label: "false alarms / unit", grid: { show: false } },
        ],
        series: [
          {},
          { label: "detection_delay", stroke: "#1c7ed6", width: 0, points: { show: true, size: 10, fill: "#1c7ed6" } },
          { label: "false_alarm_rate", scale: "alarms", stroke: "#e03131", width: 0, points: { show: true, size: 10, fill: "#e03131" } },
        ],
      },
      [x, rows.map((r) => r.detection_delay), rows.map((r) => r.false_alarm_rate)],
      box.current,
    );
    return () => plot.destroy();
  }, [rows]);
  return <div ref={box} data-testid="drift-eval-chart" />;
}

const show = (v: number | null) => (v === null ? "—" : Number.isInteger(v) ? String(v) : v.toPrecision(4));

export function DriftEvalPage() {
  const [rows, setRows] = useState<EvalRow[]>();
  const [error, setError] = useState<string>();
  const load = async (file: File | undefined) => {
    if (!file) return;
    try {
      setRows(parseRun(await file.text()));
      setError(undefined);
    } catch (err) {
      setError(`${file.name}: ${(err as Error).message}`);
    }
  };
  return (
    <div className="dashboard">
      <h2>Drift detector evaluation</h2>
      <p className="muted">Load the output of <code>evoflow drift eval --json &gt; run.json</code>.</p>
      <input type="file" accept=".json,application/json" aria-label="evaluation run" onChange={(e) => load(e.target.files?.[0])} />
      {error && <div className="page-error">{error}</div>}
      {rows && (
        <div className="card">
          <EvalChart rows={rows} />
          <table data-testid="drift-eval-table">
            <thead><tr><th>configuration</th><th>detection_delay</th><th>false_alarm_rate</th><th>missed_detection_rate</th><th>f1</th></tr></thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={i}><td>{label(r)}</td><td>{show(r.detection_delay)}</td><td>{show(r.false_alarm_rate)}</td><td>{show(r.missed_detection_rate)}</td><td>{show(r.f1)}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
