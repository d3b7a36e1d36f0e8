/** A rollout in a few words, for the CLI's history table and the editor's dashboard (sent with each history entry). */
import type { RolloutStatus } from "./rollout";

/** "canary promoted 10→25→50→100%", "canary rolled-back at 10%", "shadow running", or "-" for a direct promotion. */
export function rolloutSummary(rollout: unknown): string {
  if (!rollout) return "-";
  const r = rollout as RolloutStatus;
  const weights = r.steps.map((s) => `${Math.round(100 * s.weight)}`);
  if (r.mode !== "canary" || !weights.length) return `${r.mode} ${r.state}`;
  return r.state === "rolled-back" ? `canary rolled-back at ${weights.at(-1)}%` : `canary ${r.state} ${weights.join("→")}%`;
}
