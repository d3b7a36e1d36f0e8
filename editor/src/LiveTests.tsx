/** A model card's live tests: the A/B test that judged this version, and the bandit routing traffic to it. */
import type { AbTestRolloutStatus, BanditStatus } from "../../sdk";
import { pct, time } from "./Dashboard";

const num = (v: number | undefined) => (v === undefined ? "—" : Number(v.toPrecision(4)).toString());

export function AbTestCard({ rollout }: { rollout: unknown }) {
  if ((rollout as { mode?: string } | undefined)?.mode !== "ab") return null;
  const { state, reason, abTest: t } = rollout as AbTestRolloutStatus;
  const s = t.sequential;
  return (
    <div data-testid="ab-test">
      <h3>A/B test</h3>
      <p>
        <span className={state === "promoted" ? "accepted" : state === "running" ? "" : "rejected"}>{t.outcome ?? state}</span> — {reason ?? "running"}
      </p>
      <table className="history">
        <thead>
          <tr>
            <th>version</th>
            <th>requests</th>
            <th>errors</th>
            <th>scored</th>
            <th>{t.metric}</th>
          </tr>
        </thead>
        <tbody>
          {[t.champion, t.candidate].map((a, i) => (
            <tr key={a.version}>
              <th>
                @{a.version} {i ? "candidate" : "champion"}
              </th>
              <td>{a.requests}</td>
              <td>{a.errors}</td>
              <td>{a.scored}</td>
              <td>{t.metric === "accuracy" ? pct(a.mean) : num(a.mean)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted" data-testid="ab-statistics">
        sticky key {t.key}, candidate share {pct(t.share)}, α {t.alpha}, τ {t.tau}, min {t.minSamples} per version, max {t.maxSamples}; {t.unkeyed} requests without a key
        {s ? ` · difference ${num(s.difference)} in [${num(s.interval[0])}, ${num(s.interval[1])}], Λ ${num(s.likelihoodRatio)}, always-valid p ${s.pValue.toPrecision(3)}` : " · not yet at the minimum sample"}
      </p>
    </div>
  );
}

export function BanditCard({ bandit, version }: { bandit: unknown; version: number }) {
  if (!bandit) return null;
  const b = bandit as BanditStatus;
  return (
    <div data-testid="bandit">
      <h3>Bandit router</h3>
      <p className="muted">
        Thompson sampling, {b.pulls} requests, {b.rewards} rewards, leader @{b.leader}, as of {time(b.at)}
      </p>
      <div className="bars">
        {b.arms.map((a) => (
          <div key={a.version} className="bar-row">
            <span className="bar-label">
              {a.version === version ? <strong>@{a.version}</strong> : `@${a.version}`} share
            </span>
            <span className="bar" style={{ width: `${Math.max(1, a.recentShare * 100)}%`, background: "#1971c2" }} />
            <span className="bar-value">
              {pct(a.recentShare)} · mean reward {pct(a.posteriorMean)} · {a.pulls} pulls
            </span>
          </div>
        ))}
      </div>
    </div>
  );
}
