/**
 * The continual-learning dashboard of a service (a pipeline whose CL loop writes
 * history): learned classes, current accuracy, drift magnitude, charts of
 * accuracy, drift and p99 latency over time, every update with its decision and
 * reasons, and a model-card page per version. Everything comes from the runtime:
 * the CL history, the pipeline's live status (drift nodes report a magnitude
 * history), the node latency histograms of /metrics and its CPU per node (editor/src/cost.ts).
 */
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import { api, type HistoryEntry, type ModelCard, type PipelineStatus, type ServiceHistoryEntry } from "./api";
import { GateChecks } from "./GateChecks";
import { cpuMsPerMessage, nodeCpu, pipelineCostPer1000, type NodeCpu } from "./cost";
import { RcaPanel } from "./RcaPanel";

const POLL_MS = 2000;
export const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "—" : `${(v * 100).toFixed(1)}%`);
export const time = (iso: string | number) => new Date(iso).toLocaleString();

/** The candidate's holdout accuracy as the gate measured it, else what the trainer reported. */
export function entryAccuracy(e: HistoryEntry): number | undefined {
  return e.validation?.candidate.holdout?.accuracy ?? e.metrics?.holdoutAccuracy ?? e.metrics?.averageAccuracy;
}

/** Why an update did not go through (its gate checks are listed beside, one by one). */
function reasonsOf(e: HistoryEntry): string[] {
  if (e.error) return [e.error];
  if (e.reason) return [e.reason];
  return e.validation?.checks.length ? [] : (e.validation?.reasons ?? []);
}

/** A uPlot time chart; created once, fed new data on every poll. */
function Chart({ title, series, data, unit }: { title: string; series: { label: string; color: string; points?: boolean }[]; data: uPlot.AlignedData; unit?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>(undefined);
  const shape = series.map((s) => s.label).join("|");
  useEffect(() => {
    if (!box.current) return;
    plot.current = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth - 4),
        height: 200,
        scales: { x: { time: true } },
        axes: [{}, { label: unit, size: 60 }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 1.5,
            points: { show: s.points ?? false, size: 6, fill: s.color },
            spanGaps: true,
          })),
        ],
      },
      data,
      box.current,
    );
    return () => plot.current?.destroy();
  }, [shape]);
  useEffect(() => {
    const p = plot.current;
    if (!p) return;
    p.setData(data);
    // One point alone would stretch the time axis over years: give it an hour either side.
    if (data[0].length === 1) p.setScale("x", { min: data[0][0] - 3600, max: data[0][0] + 3600 });
  }, [data]);
  const empty = data[0].length === 0;
  return (
    <div className="card">
      <div className="label">{title}</div>
      <div ref={box} data-testid={`chart-${title}`} />
      {empty && <div className="muted">No data yet.</div>}
    </div>
  );
}

/** The profile of a model version: throughput and p99 latency against batch size (two y scales). */
export function ProfileChart({ profile }: { profile: NonNullable<ModelCard["profile"]> }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const rows = profile.results;
    const plot = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth - 4),
        height: 200,
        scales: { x: { time: false }, throughput: {}, latency: {} },
        axes: [
          { label: "batch size" },
          { scale: "throughput", label: "examples/s", size: 70 },
          { scale: "latency", label: "p99 ms", side: 1, size: 60, grid: { show: false } },
        ],
        series: [
          {},
          { label: "throughput", scale: "throughput", stroke: "#1f77b4", width: 1.5, points: { show: true, size: 6 } },
          { label: "p99 latency", scale: "latency", stroke: "#d62728", width: 1.5, points: { show: true, size: 6 } },
        ],
      },
      [rows.map((r) => r.batchSize), rows.map((r) => r.throughput), rows.map((r) => r.latencyMs.p99)],
      box.current,
    );
    return () => plot.destroy();
  }, [profile]);
  return (
    <div className="card">
      <div className="label">
        Profile ({profile.runtime}, {profile.executionProvider})
      </div>
      <div ref={box} data-testid="chart-profile" />
    </div>
  );
}

/** p99 from the change of a Prometheus histogram's cumulative buckets between two polls, in ms. */
function p99FromBuckets(now: Map<number, number>, before: Map<number, number> | undefined): number | undefined {
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const total = (now.get(Infinity) ?? 0) - (before?.get(Infinity) ?? 0);
  if (total <= 0) return undefined;
  for (const le of bounds) {
    if ((now.get(le) ?? 0) - (before?.get(le) ?? 0) >= 0.99 * total) return le === Infinity ? undefined : le * 1000;
  }
  return undefined;
}

/** Cumulative latency buckets of one pipeline's nodes: node -> (le seconds -> count). */
function latencyBuckets(metricsText: string, pipeline: string): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  const line = /^evoflow_node_latency_seconds_bucket\{([^}]*)\}\s+(\S+)$/gm;
  for (const m of metricsText.matchAll(line)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.pipeline !== pipeline) continue;
    const buckets = out.get(labels.node) ?? new Map<number, number>();
    buckets.set(labels.le === "+Inf" ? Infinity : Number(labels.le), Number(m[2]));
    out.set(labels.node, buckets);
  }
  return out;
}

interface LivePoint {
  ts: number;
  drift?: number;
  p99Ms?: number;
  /** CPU ms per message of each node over the last poll interval. */
  cpuMs?: Map<string, number>;
}

const NODE_COLORS = ["#1971c2", "#e03131", "#2f9e44", "#f08c00", "#7048e8", "#0c8599"];

export function Dashboard({ service }: { service: string }) {
  const [entries, setEntries] = useState<ServiceHistoryEntry[]>();
  const [status, setStatus] = useState<PipelineStatus>();
  const [live, setLive] = useState<LivePoint[]>([]);
  const [cost, setCost] = useState<ReturnType<typeof pipelineCostPer1000>>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let stopped = false;
    let previousBuckets = new Map<string, Map<number, number>>();
    let previousCpu: Map<string, NodeCpu> | undefined;
    const poll = async () => {
      try {
        const history = await api.serviceHistory(service);
        if (!stopped) setEntries(history.entries);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      }
      try {
        const s = await api.status(service);
        const text = await api.metrics();
        if (stopped) return;
        setStatus(s);
        // The slowest node's p99 over the last poll interval (a node's time includes the sync chain behind it).
        const buckets = latencyBuckets(text, service);
        const p99s = [...buckets].map(([node, b]) => p99FromBuckets(b, previousBuckets.get(node))).filter((v): v is number => v !== undefined);
        const p99Ms = p99s.length ? Math.max(...p99s) : undefined;
        previousBuckets = buckets;
        const cpu = nodeCpu(text, service);
        const cpuMs = previousCpu && cpuMsPerMessage(cpu, previousCpu);
        previousCpu = cpu;
        setCost(pipelineCostPer1000(text, service));
        setLive((points) => [...points.slice(-300), { ts: Date.now() / 1000, p99Ms, cpuMs }]);
      } catch {
        // Not running: the history is still shown.
      }
    };
    void poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [service]);

  const promoted = (entries ?? []).filter((e) => e.decision === "promoted");
  const champion = promoted.at(-1);
  const classes = new Set<string>();
  for (const e of promoted) for (const c of Object.keys(e.snapshot?.classes ?? {})) classes.add(c);
  for (const c of Object.keys(champion?.validation?.candidate.holdout?.perClass ?? {})) classes.add(c);

  // Drift magnitude: every drift node of the running pipeline keeps its recent history.
  const driftNodes = Object.entries(status?.nodes ?? {}).filter(([, n]) => n.type.startsWith("drift.") && Array.isArray(n.magnitude));
  const driftSeries = driftNodes.map(([id, n]) => ({ id, points: n.magnitude as { ts: number; magnitude: number }[] }));
  const currentDrift = driftSeries.length ? Math.max(...driftSeries.map((s) => s.points.at(-1)?.magnitude ?? 0)) : undefined;
  const driftTimes = [...new Set(driftSeries.flatMap((s) => s.points.map((p) => Math.round(p.ts) / 1000)))].sort((a, b) => a - b);
  const driftData: uPlot.AlignedData = [
    driftTimes,
    ...driftSeries.map((s) => {
      const at = new Map(s.points.map((p) => [Math.round(p.ts) / 1000, p.magnitude]));
      return driftTimes.map((t) => at.get(t) ?? null);
    }),
  ];

  const all = entries ?? [];
  const accuracyData: uPlot.AlignedData = [
    all.map((e) => new Date(e.at).getTime() / 1000),
    all.map((e) => entryAccuracy(e) ?? null),
    // The champion's accuracy, held until the next promotion.
    all.map((_, i) => {
      const last = all.slice(0, i + 1).filter((e) => e.decision === "promoted").at(-1);
      return last ? (entryAccuracy(last) ?? null) : null;
    }),
  ];
  const latencyData: uPlot.AlignedData = [live.map((p) => p.ts), live.map((p) => p.p99Ms ?? null)];
  const cpuNodes = [...new Set(live.flatMap((p) => [...(p.cpuMs?.keys() ?? [])]))].sort();
  const cpuData: uPlot.AlignedData = [live.map((p) => p.ts), ...cpuNodes.map((node) => live.map((p) => p.cpuMs?.get(node) ?? null))];

  return (
    <div className="dashboard" data-testid="dashboard">
      <header>
        <h1>{service}</h1>
        <span className="muted">continual-learning service</span>
        <a href={`#/pipelines/${encodeURIComponent(service)}`}>open pipeline</a>
        <a href="#/">editor</a>
      </header>
      {error && <div className="field-problem">{error}</div>}
      <div className="cards">
        <div className="card">
          <div className="label">champion</div>
          <div className="value" data-testid="champion">
            {champion ? (
              <a href={`#/models/${encodeURIComponent(champion.model)}/${champion.version}`}>
                {champion.model}@{champion.version}
              </a>
            ) : (
              "—"
            )}
          </div>
        </div>
        <div className="card">
          <div className="label">current accuracy</div>
          <div className="value" data-testid="accuracy">
            {pct(champion && entryAccuracy(champion))}
          </div>
        </div>
        <div className="card">
          <div className="label">learned classes</div>
          <div className="value" data-testid="classes">
            {classes.size || "—"}
          </div>
          <div className="muted">{[...classes].sort((a, b) => Number(a) - Number(b)).join(", ")}</div>
        </div>
        <div className="card">
          <div className="label">drift magnitude</div>
          <div className="value">{currentDrift === undefined ? "—" : currentDrift.toPrecision(3)}</div>
          <div className="muted">{driftNodes.map(([id]) => id).join(", ") || "no drift node running"}</div>
        </div>
        <div className="card">
          <div className="label">cost per 1,000 messages</div>
          <div className="value" data-testid="cost">
            {cost ? `${cost.cost.toPrecision(3)} ${cost.currency}` : "—"}
          </div>
          <div className="muted">CPU of every node, since deploy{cost?.energySource && ` · energy from ${cost.energySource}`}</div>
        </div>
        <div className="card">
          <div className="label">updates</div>
          <div className="value">
            <span className="accepted">{promoted.length}</span> / <span className="rejected">{all.filter((e) => e.decision === "rejected").length}</span>
          </div>
          <div className="muted">promoted / rejected</div>
        </div>
      </div>
      <div className="charts">
        <Chart
          title="accuracy"
          unit="holdout"
          series={[
            { label: "candidate", color: "#868e96", points: true },
            { label: "champion", color: "#2f9e44", points: true },
          ]}
          data={accuracyData}
        />
        <Chart title="drift" unit="magnitude" series={driftSeries.map((s, i) => ({ label: s.id, color: ["#e03131", "#7048e8", "#f08c00", "#1c7ed6"][i % 4] }))} data={driftData} />
        <Chart title="p99 latency" unit="ms" series={[{ label: "p99, slowest node", color: "#1971c2", points: true }]} data={latencyData} />
        <Chart title="CPU per message" unit="ms CPU" series={cpuNodes.map((node, i) => ({ label: node, color: NODE_COLORS[i % NODE_COLORS.length], points: true }))} data={cpuData} />
      </div>
      <RcaPanel pipeline={service} />
      <h3>Update history</h3>
      <table className="history" data-testid="history">
        <thead>
          <tr>
            <th>when</th>
            <th>version</th>
            <th>decision</th>
            <th>rollout</th>
            <th>trigger</th>
            <th>strategy</th>
            <th>data</th>
            <th>accuracy</th>
            <th>checks</th>
          </tr>
        </thead>
        <tbody>
          {[...all].reverse().map((e) => (
            <tr key={e.id} data-testid="history-entry">
              <td>{time(e.at)}</td>
              <td>{e.version !== undefined ? <a href={`#/models/${encodeURIComponent(e.model)}/${e.version}`}>{e.model}@{e.version}</a> : "—"}</td>
              <td className={e.decision === "promoted" ? "accepted" : e.decision === "pending" ? "" : "rejected"}>{e.decision}</td>
              <td data-testid="history-rollout">{e.rolloutSummary}</td>
              <td>
                {e.trigger.kind}
                {e.trigger.reason && <div className="muted">{e.trigger.reason}</div>}
              </td>
              <td>
                {e.strategy.trainer}
                {e.strategy.mode && <span className="muted"> · {e.strategy.mode}</span>}
              </td>
              <td>{e.snapshot ? `${e.snapshot.count} examples, classes ${Object.keys(e.snapshot.classes).join(",")}` : "—"}</td>
              <td>{pct(entryAccuracy(e))}</td>
              <td data-testid="history-checks">
                {reasonsOf(e).map((r, i) => (
                  <div key={i} className="rejected">
                    {r}
                  </div>
                ))}
                {e.validation && <GateChecks checks={e.validation.checks} />}
              </td>
            </tr>
          ))}
          {all.length === 0 && (
            <tr>
              <td colSpan={9} className="muted">
                No update yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function ServicePicker() {
  const [pipelines, setPipelines] = useState<{ name: string }[]>();
  const [name, setName] = useState("");
  useEffect(() => {
    api.list().then(setPipelines, () => setPipelines([]));
  }, []);
  return (
    <div className="dashboard">
      <header>
        <h1>CL dashboards</h1>
        <a href="#/">editor</a>
      </header>
      <p>Pick a running pipeline, or name a service whose history is kept:</p>
      <ul>
        {pipelines?.map((p) => (
          <li key={p.name}>
            <a href={`#/services/${encodeURIComponent(p.name)}`}>{p.name}</a>
          </li>
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (name) window.location.hash = `#/services/${encodeURIComponent(name)}`;
        }}
      >
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="service name" style={{ width: 240 }} /> <button type="submit">Open</button>
      </form>
    </div>
  );
}
