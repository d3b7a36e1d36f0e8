/** A model version's card: why and how it was trained, on what, what it scored, its gate report, profile and lineage. */
import { useEffect, useState } from "react";
import { api, type HistoryEntry, type ModelCard } from "./api";
import { readableField } from "./core/readable";
import { costLine } from "./cost";
import { pct, ProfileChart, time } from "./Dashboard";
import { AbTestCard, BanditCard } from "./LiveTests";
import { ProfileTable } from "./ProfileTable";

function Bars({ rows, unit = "" }: { rows: { label: string; value: number; max: number; ok?: boolean }[]; unit?: string }) {
  return (
    <div className="bars">
      {rows.map((r) => (
        <div key={r.label} className="bar-row">
          <span className="bar-label">{r.label}</span>
          <span className="bar" style={{ width: `${Math.max(1, (r.value / (r.max || 1)) * 100)}%`, background: r.ok === false ? "#e03131" : "#1971c2" }} />
          <span className="bar-value">
            {unit === "%" ? pct(r.value) : `${r.value.toFixed(2)} ${unit}`}
          </span>
        </div>
      ))}
    </div>
  );
}

function KeyValues({ value }: { value: Record<string, unknown> | undefined }) {
  if (!value) return <div className="muted">—</div>;
  return (
    <table className="history">
      <tbody>
        {Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td className="wrap" data-testid={`card-${k}`}>
                {readableField(v)}
              </td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

export function ModelCardPage({ model, version }: { model: string; version: string }) {
  const [card, setCard] = useState<ModelCard>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.modelCard(model, version).then(setCard, (err: Error) => setError(err.message));
  }, [model, version]);
  if (error) return <div className="page-error">{error}</div>;
  if (!card) return <div className="page-loading">Loading model card…</div>;
  const validation = card.validation as HistoryEntry["validation"] | undefined;
  const holdout = validation?.candidate.holdout;
  const latency = validation?.candidate.latencyMs;
  const matrix = card.metrics?.accuracyMatrix;
  return (
    <div className="dashboard" data-testid="model-card">
      <header>
        <h1>
          {card.model}@{card.version}
        </h1>
        <span className={card.decision === "promoted" || card.status === "champion" ? "accepted" : "rejected"}>{card.status ?? card.decision}</span>
        {card.service && <a href={`#/services/${encodeURIComponent(card.service)}`}>service {card.service}</a>}
      </header>
      <div className="cards">
        <div className="card">
          <div className="label">created</div>
          <div>{card.createdAt ? time(card.createdAt) : "—"}</div>
        </div>
        <div className="card">
          <div className="label">holdout accuracy</div>
          <div className="value">{pct(holdout?.accuracy ?? card.metrics?.holdoutAccuracy)}</div>
        </div>
        <div className="card">
          <div className="label">latency p50 / p99</div>
          <div className="value">{latency ? `${latency.p50.toFixed(2)} / ${latency.p99.toFixed(2)} ms` : "—"}</div>
        </div>
        <div className="card" data-testid="card-cost">
          <div className="label">per 1,000 inferences</div>
          {card.cost ? (
            <>
              <div className="value">{costLine(card.cost.candidate)}</div>
              <div className="muted">
                {card.cost.candidate.joules.toPrecision(3)} J (energy from {card.cost.candidate.energySource})
                {card.cost.champion && ` · champion${card.cost.champion.version !== undefined ? ` @${card.cost.champion.version}` : ""}: ${costLine(card.cost.champion)}`}
              </div>
            </>
          ) : (
            <div className="value">—</div>
          )}
        </div>
        <div className="card">
          <div className="label">size</div>
          <div className="value">{card.sizeBytes ? `${(card.sizeBytes / 1024).toFixed(0)} KB` : "—"}</div>
        </div>
        <div className="card">
          {/* sklearn and python artifacts run code when loaded: the card says which kind this is. */}
          <div className="label">format</div>
          <div className="value">{card.artifact?.format ?? "—"}</div>
        </div>
      </div>
      <div className="charts">
        <div className="card">
          <div className="label">trigger and strategy</div>
          <KeyValues value={{ trigger: card.trigger, scenario: card.scenario, ...card.strategy }} />
        </div>
        <div className="card">
          <div className="label">data snapshot</div>
          <KeyValues value={card.data as Record<string, unknown> | undefined} />
          <KeyValues value={card.training} />
        </div>
        <div className="card">
          <div className="label">accuracy per class (holdout)</div>
          {holdout ? (
            <Bars rows={Object.entries(holdout.perClass).map(([c, v]) => ({ label: `class ${c}`, value: v.accuracy, max: 1 }))} unit="%" />
          ) : (
            <div className="muted">—</div>
          )}
        </div>
      </div>
      <h3>Validation report</h3>
      {validation ? (
        <table className="history" data-testid="validation">
          <tbody>
            {validation.checks.map((c) => (
              <tr key={c.name}>
                <td className={c.passed ? "accepted" : "rejected"}>{c.passed ? "pass" : "fail"}</td>
                <th>{c.name}</th>
                <td>{c.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="muted">No validation report.</div>
      )}
      <AbTestCard rollout={card.rollout} />
      <BanditCard bandit={card.bandit} version={card.version} />
      <h3>Metrics</h3>
      <KeyValues value={card.metrics ? Object.fromEntries(Object.entries(card.metrics).filter(([k]) => k !== "accuracyMatrix")) : undefined} />
      {matrix && (
        <>
          <h4>Accuracy matrix (rows: after update i; columns: experience j)</h4>
          <table className="history">
            <tbody>
              {matrix.map((row, i) => (
                <tr key={i}>
                  <th>{i}</th>
                  {row.map((v, j) => (
                    <td key={j}>{v === null ? "" : pct(v)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h3>Profile</h3>
      {card.profile ? (
        <>
          <ProfileChart profile={card.profile} />
          <ProfileTable profile={card.profile} />
        </>
      ) : (
        <div className="muted">Not profiled yet (an agent profiles it when idle, or evoflow profile {card.model}@{card.version}).</div>
      )}
      <h3>Lineage</h3>
      <KeyValues value={card.lineage as Record<string, unknown> | undefined} />
    </div>
  );
}
