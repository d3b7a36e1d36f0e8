/** A rollout, A/B test or bandit record in a few words, for the CLI's history table and the editor's dashboard (sent with each history entry). */
import type { AbTestRolloutStatus } from "./ab-test";
import type { BanditStatus } from "./bandit";
import type { RolloutStatus } from "./rollout";

/**
 * "canary promoted 10→25→50→100%", "canary rolled-back at 10%", "shadow running",
 * "A/B promoted: better, p=0.0012, n=412/398", "bandit @3 81%, @4 19%", or "-" for a direct promotion.
 */
export function rolloutSummary(rollout: unknown, bandit?: unknown): string {
  if (bandit) return `bandit ${(bandit as BanditStatus).arms.map((a) => `@${a.version} ${Math.round(100 * a.recentShare)}%`).join(", ")}`;
  if (!rollout) return "-";
  if ((rollout as { mode?: string }).mode === "ab") {
    const { state, abTest: t } = rollout as AbTestRolloutStatus;
    const p = t.sequential ? `, p=${t.sequential.pValue.toPrecision(2)}` : "";
    return `A/B ${state}${t.outcome ? `: ${t.outcome}` : ""}${p}, n=${t.candidate.scored}/${t.champion.scored}`;
  }
  const r = rollout as RolloutStatus;
  const weights = r.steps.map((s) => `${Math.round(100 * s.weight)}`);
  if (r.mode !== "canary" || !weights.length) return `${r.mode} ${r.state}`;
  return r.state === "rolled-back" ? `canary rolled-back at ${weights.at(-1)}%` : `canary ${r.state} ${weights.join("→")}%`;
}
