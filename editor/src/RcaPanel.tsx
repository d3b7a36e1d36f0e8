/**
 * The dashboard's root-cause panel: the drift alarms a pipeline kept, and for the one picked,
 * where its shift entered the pipeline — a bar chart of every upstream edge and feature tested
 * (−log10 p, significant ones in red, the corrected threshold dashed) and the ranking as a table.
 * The analysis is the runtime's (`GET /api/alarms/:id/rca`); core/rca-chart.ts shapes it.
 */
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import { api } from "./api";
import type { AlarmSummary, RcaReport } from "../../sdk";
import { alarmLabel, entrySentence, rcaBars } from "./core/rca-chart";

const POLL_MS = 2000;
const TOP = 25;

function RcaChart({ report }: { report: RcaReport }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const bars = rcaBars(report, TOP);
    const x = bars.labels.map((_, i) => i);
    const barPaths = uPlot.paths.bars!({ size: [0.7, 40], align: 0 });
    const plot = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth - 4),
        height: 320,
        scales: { x: { time: false, range: [-0.5, Math.max(0.5, x.length - 0.5)] }, y: { range: (_u, _min, max) => [0, Math.max(max, bars.threshold) * 1.1] } },
        axes: [
          { splits: () => x, values: (_u, splits) => splits.map((i) => bars.labels[i] ?? ""), rotate: -40, size: 150, gap: 4 },
          { label: "−log10 p", size: 60 },
        ],
        series: [
          {},
          { label: "shifted", fill: "#e03131", stroke: "#e03131", paths: barPaths, points: { show: false } },
          { label: "not shifted", fill: "#adb5bd", stroke: "#adb5bd", paths: barPaths, points: { show: false } },
          { label: `threshold (p < ${report.threshold.toPrecision(2)})`, stroke: "#1c7ed6", dash: [6, 4], width: 1.5, points: { show: false } },
        ],
      },
      [x, bars.significant, bars.other, x.map(() => bars.threshold)],
      box.current,
    );
    return () => plot.destroy();
  }, [report]);
  return <div ref={box} data-testid="rca-chart" />;
}

export function RcaPanel({ pipeline }: { pipeline: string }) {
  const [alarms, setAlarms] = useState<AlarmSummary[]>([]);
  const [picked, setPicked] = useState<string>();
  const [correction, setCorrection] = useState<"bonferroni" | "fdr">("bonferroni");
  const [mmd, setMmd] = useState(false);
  const [report, setReport] = useState<RcaReport>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let stopped = false;
    const poll = () =>
      api.alarms(pipeline).then(
        (r) => !stopped && setAlarms(r.alarms),
        () => !stopped && setAlarms([]), // not running: no alarms kept
      );
    void poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [pipeline]);

  // The newest alarm until one is picked.
  const id = picked ?? alarms.at(-1)?.id;
  useEffect(() => {
    if (!id) return;
    let stopped = false;
    api.rca(id, correction, mmd).then(
      (r) => {
        if (stopped) return;
        setReport(r);
        setError(undefined);
      },
      (err: Error) => !stopped && setError(err.message),
    );
    return () => {
      stopped = true;
    };
  }, [id, correction, mmd]);

  return (
    <div className="card" data-testid="rca-panel">
      <div className="label">root cause of drift alarms</div>
      {alarms.length === 0 ? (
        <div className="muted">No drift alarm kept: when a drift node fires, the data on every edge upstream of it is kept for this analysis.</div>
      ) : (
        <>
          <div style={{ display: "flex", gap: 8, alignItems: "center" }}>
            <select data-testid="rca-alarm" style={{ width: "auto" }} value={id} onChange={(e) => setPicked(e.target.value)}>
              {[...alarms].reverse().map((a) => (
                <option key={a.id} value={a.id}>
                  {alarmLabel(a)}
                </option>
              ))}
            </select>{" "}
            <select data-testid="rca-correction" style={{ width: "auto" }} value={correction} onChange={(e) => setCorrection(e.target.value as "bonferroni" | "fdr")}>
              <option value="bonferroni">Bonferroni</option>
              <option value="fdr">Benjamini–Hochberg (FDR)</option>
            </select>{" "}
            <label>
              <input type="checkbox" style={{ width: "auto" }} data-testid="rca-mmd" checked={mmd} onChange={(e) => setMmd(e.target.checked)} /> MMD per edge
            </label>
          </div>
          {error && <div className="field-problem">{error}</div>}
          {report && report.alarm.id === id && (
            <>
              <p data-testid="rca-entry" className={report.entry ? "rejected" : "muted"}>
                {entrySentence(report)}
              </p>
              <RcaChart report={report} />
              <table className="history" data-testid="rca-ranking">
                <thead>
                  <tr>
                    <th>rank</th>
                    <th>stage</th>
                    <th>edge</th>
                    <th>feature</th>
                    <th>test</th>
                    <th>statistic</th>
                    <th>p</th>
                    <th>shifted</th>
                  </tr>
                </thead>
                <tbody>
                  {report.ranking.slice(0, TOP).map((t, i) => (
                    <tr key={`${t.edge} ${t.feature} ${t.test}`} data-testid="rca-row">
                      <td>{i + 1}</td>
                      <td>{t.stage}</td>
                      <td>
                        {t.from} → {t.to}
                      </td>
                      <td>{t.feature}</td>
                      <td>{t.test}</td>
                      <td>{t.statistic.toPrecision(3)}</td>
                      <td>{t.pValue.toPrecision(3)}</td>
                      <td className={t.significant ? "rejected" : ""}>{t.significant ? "yes" : "no"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {report.skipped.length > 0 && <div className="muted">Not tested: {report.skipped.map((s) => `${s.edge} ${s.feature} (${s.reason})`).join("; ")}</div>}
            </>
          )}
        </>
      )}
    </div>
  );
}
