/**
 * What every live test of a candidate (canary and shadow rollouts, A/B tests) does the same way:
 * read the class an answer gave, time one attempt on a version, and record the decision in the
 * registry.
 */
import { isTensor } from "../../sdk/ports";
import type { ModelRegistry } from "../../sdk/registry";

export type RolloutState = "running" | "promoted" | "rolled-back";

/** Answers waiting for their label are kept up to this many, oldest dropped first: labels that never come cost bounded memory. */
export const MAX_AWAITING_LABEL = 50_000;

export type Attempt<T> = { ok: true; answer: T; latencyMs: number } | { ok: false; error: unknown; latencyMs: number };

/** Runs `run(version)`, timing it; a failure is returned, not thrown, so the caller can fall back to the champion. */
export async function attempt<T>(version: number, run: (version: number) => Promise<T>): Promise<Attempt<T>> {
  const t0 = performance.now();
  try {
    const answer = await run(version);
    return { ok: true, answer, latencyMs: performance.now() - t0 };
  } catch (error) {
    return { ok: false, error, latencyMs: performance.now() - t0 };
  }
}

/** The class a classifier answered: the argmax of a one-row numeric output (a record's first tensor); undefined for anything else. */
export function predictedClass(answer: unknown): number | undefined {
  const t = isTensor(answer) ? answer : answer && typeof answer === "object" ? Object.values(answer).find(isTensor) : undefined;
  if (!t || typeof t.data[0] !== "number") return undefined;
  const data = t.data as ArrayLike<number>;
  if (data.length < 2 || data.length !== (t.shape.at(-1) ?? data.length)) return undefined;
  let best = 0;
  for (let i = 1; i < data.length; i++) if (data[i] > data[best]) best = i;
  return best;
}

/**
 * Promotes the candidate or marks it rejected; returns the reason as recorded. The routing
 * decision stands when the registry cannot record it (e.g. closed while stopping): the reason says so.
 */
export async function settle(registry: ModelRegistry, model: string, candidate: number, state: Exclude<RolloutState, "running">, how: string, reason: string): Promise<string> {
  try {
    if (state === "promoted") await registry.promote(model, candidate, `${how}: ${reason}`);
    else await registry.setStatus(model, candidate, "rejected", `rolled back: ${reason}`);
    return reason;
  } catch (err) {
    return `${reason} (registry: ${(err as Error).message})`;
  }
}
