/**
 * Promotion of a candidate that passed the gate: at once (hot swap through the registry,
 * which serving nodes watch), or through a rollout as Argo Rollouts / Flagger do it:
 * - shadow: every request is answered by the champion and mirrored to the candidate; the
 *   answers are compared (and scored where labels are known); the candidate serves nothing;
 * - canary: the candidate answers a growing share of requests (weight steps); at each step
 *   error rate, p99 latency and (with labels) accuracy against the champion are checked;
 *   any failed check rolls back at once: the candidate is marked `rejected` and serves no more.
 * Serving code asks `route()` which version answers a request and reports each outcome with `record()`.
 */
import { z } from "zod";
import type { ModelRegistry } from "../registry/types";

export const rolloutConfigSchema = z.object({
  mode: z.enum(["direct", "shadow", "canary"]).default("direct").describe("direct: hot swap at once; shadow: mirror traffic, compare, then swap; canary: weighted steps with checks"),
  steps: z.array(z.number().gt(0).max(1)).default([0.1, 0.25, 0.5]).describe("Canary: share of requests the candidate answers at each step"),
  requestsPerStep: z.number().int().min(1).default(200).describe("Candidate answers observed (canary) or mirrored (shadow) before a step is judged"),
  maxErrorRate: z.number().min(0).max(1).default(0.01).describe("Largest share of failed candidate requests"),
  maxP99Ms: z.number().positive().default(50).describe("Candidate p99 latency budget at each step, ms"),
  maxAccuracyDrop: z.number().min(0).max(1).default(0.05).describe("Largest drop in accuracy on labelled requests against the champion"),
  minAgreement: z.number().min(0).max(1).default(0).describe("Shadow: least share of mirrored requests where candidate and champion agree (0 = not checked)"),
});
export type RolloutConfig = z.output<typeof rolloutConfigSchema>;

export interface Outcome {
  ok: boolean;
  latencyMs: number;
  /** Predicted class, and the true label when known at that time. */
  predicted?: number;
  label?: number;
}

export interface StepReport {
  step: number;
  weight: number;
  candidate: { requests: number; errorRate: number; p99Ms: number; accuracy?: number };
  champion: { requests: number; accuracy?: number };
  agreement?: number;
  passed: boolean;
  reasons: string[];
}

export type RolloutState = "running" | "promoted" | "rolled-back";

export interface RolloutResult {
  state: Exclude<RolloutState, "running">;
  mode: RolloutConfig["mode"];
  steps: StepReport[];
  reason?: string;
}

class Window {
  latencies: number[] = [];
  errors = 0;
  labelled = 0;
  right = 0;
  add(o: Outcome): void {
    this.latencies.push(o.latencyMs);
    if (!o.ok) this.errors++;
    if (o.ok && o.label !== undefined && o.predicted !== undefined) (this.labelled++, o.predicted === o.label && this.right++);
  }
  get accuracy(): number | undefined {
    return this.labelled ? this.right / this.labelled : undefined;
  }
  get p99(): number {
    const s = [...this.latencies].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] : 0;
  }
}

export class Rollout {
  state: RolloutState = "running";
  readonly steps: StepReport[] = [];
  readonly done: Promise<RolloutResult>;
  private resolveDone!: (r: RolloutResult) => void;
  private step = 0;
  private requests = 0;
  private candidateWindow = new Window();
  private championWindow = new Window();
  private agreements = 0;
  private compared = 0;
  private judging = false;

  constructor(
    private readonly registry: ModelRegistry,
    readonly model: string,
    readonly candidate: number,
    readonly champion: number | undefined,
    readonly config: RolloutConfig,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    if (config.mode === "direct" || champion === undefined) void this.finish("promoted", champion === undefined ? "no champion to compare with" : "direct hot swap");
  }

  get weight(): number {
    return this.config.mode === "canary" ? this.config.steps[this.step] ?? 1 : 0;
  }

  /** Which version answers this request, and which one (if any) gets a mirrored copy. */
  route(): { serve: number; mirror?: number } {
    if (this.state === "rolled-back") return { serve: this.champion! };
    if (this.state === "promoted" || this.champion === undefined) return { serve: this.candidate };
    if (this.config.mode === "shadow") return { serve: this.champion, mirror: this.candidate };
    // Deterministic weighted split: the candidate takes request n when ⌊(n+1)·w⌋ > ⌊n·w⌋.
    const n = this.requests++;
    const w = this.weight;
    return { serve: Math.floor((n + 1) * w) > Math.floor(n * w) ? this.candidate : this.champion };
  }

  /** Reports how a request went on `version` (for shadow, `championPredicted` lets answers be compared). */
  record(version: number, outcome: Outcome, championPredicted?: number): void {
    if (this.state !== "running") return;
    if (version === this.candidate) {
      this.candidateWindow.add(outcome);
      if (championPredicted !== undefined && outcome.predicted !== undefined) (this.compared++, championPredicted === outcome.predicted && this.agreements++);
    } else if (version === this.champion) this.championWindow.add(outcome);
    if (this.candidateWindow.latencies.length >= this.config.requestsPerStep && !this.judging) void this.judge();
  }

  private async judge(): Promise<void> {
    this.judging = true;
    const c = this.candidateWindow;
    const h = this.championWindow;
    const reasons: string[] = [];
    const errorRate = c.errors / c.latencies.length;
    if (errorRate > this.config.maxErrorRate) reasons.push(`error rate ${(100 * errorRate).toFixed(2)}% > ${(100 * this.config.maxErrorRate).toFixed(2)}%`);
    if (c.p99 > this.config.maxP99Ms) reasons.push(`p99 ${c.p99.toFixed(2)} ms > ${this.config.maxP99Ms} ms`);
    const ca = c.accuracy;
    const ha = h.accuracy;
    if (ca !== undefined && ha !== undefined && ha - ca > this.config.maxAccuracyDrop)
      reasons.push(`accuracy ${(100 * ca).toFixed(1)}% vs champion ${(100 * ha).toFixed(1)}%: drop over ${(100 * this.config.maxAccuracyDrop).toFixed(1)} points`);
    const agreement = this.compared ? this.agreements / this.compared : undefined;
    if (this.config.minAgreement > 0 && agreement !== undefined && agreement < this.config.minAgreement)
      reasons.push(`agreement with the champion ${(100 * agreement).toFixed(1)}% < ${(100 * this.config.minAgreement).toFixed(1)}%`);
    this.steps.push({
      step: this.step,
      weight: this.config.mode === "canary" ? this.weight : 0,
      candidate: { requests: c.latencies.length, errorRate, p99Ms: c.p99, accuracy: ca },
      champion: { requests: h.latencies.length, accuracy: ha },
      agreement,
      passed: reasons.length === 0,
      reasons,
    });
    if (reasons.length) return this.finish("rolled-back", `step ${this.step + 1}: ${reasons.join("; ")}`);
    this.candidateWindow = new Window();
    this.championWindow = new Window();
    this.agreements = this.compared = 0;
    this.step++;
    const last = this.config.mode === "shadow" || this.step >= this.config.steps.length;
    if (last) return this.finish("promoted", `${this.config.mode} passed ${this.steps.length} step(s)`);
    this.judging = false;
  }

  private async finish(state: Exclude<RolloutState, "running">, reason: string): Promise<void> {
    // Stop routing to the candidate first: after a rollback not one more request reaches it.
    this.state = state;
    if (state === "promoted") await this.registry.promote(this.model, this.candidate, `${this.config.mode} rollout: ${reason}`);
    else await this.registry.setStatus(this.model, this.candidate, "rejected", `rolled back: ${reason}`);
    this.resolveDone({ state, mode: this.config.mode, steps: this.steps, reason });
  }
}

/**
 * The rollouts in progress, by model: the service (`cl.rollouts`) serving nodes consult so
 * a canary or shadow candidate gets its share of traffic.
 */
export class RolloutRouter {
  private readonly active = new Map<string, Rollout>();

  start(registry: ModelRegistry, model: string, candidate: number, champion: number | undefined, config: RolloutConfig): Rollout {
    const rollout = new Rollout(registry, model, candidate, champion, config);
    this.active.set(model, rollout);
    void rollout.done.then(() => {
      if (this.active.get(model) === rollout) this.active.delete(model);
    });
    return rollout;
  }

  get(model: string): Rollout | undefined {
    return this.active.get(model);
  }
}
