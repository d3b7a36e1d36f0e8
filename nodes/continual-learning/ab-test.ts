/**
 * An A/B test of a candidate against the champion on live traffic, started by validator.gate
 * (rollout mode "ab") and consulted per request by model.onnx, as canary rollouts are.
 * - Split: by a sticky key read from each request message (a payload path, e.g. the user id): the
 *   first 32 bits of SHA-256(model@candidate, key) against the candidate's share, so a key gets
 *   the same version on every request, in every process. Requests without the key are answered by
 *   the champion and not counted.
 * - Metric: accuracy (labels joined to answers by request id, however late) or a business metric
 *   (a number on feedback messages that name the request).
 * - Test: the mSPRT of statistics.ts, at significance α: promote when the candidate is
 *   significantly better, reject when significantly worse, never below `minSamples` scored answers
 *   per version; undecided at `maxSamples` or `maxSeconds`, it stops and the champion stays.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { AbArmStatus, AbOutcome, AbTestRolloutStatus, AbTestStatus } from "../../sdk/api-types";
import type { Message } from "../../sdk/envelope";
import type { ModelRegistry } from "../../sdk/registry";
import { parsePath, readPath, toNumber, valuePathSchema } from "../drift/value-path";
import { attempt, MAX_AWAITING_LABEL, predictedClass, settle, type RolloutState } from "./live-answer";
import { mixtureSprt, RunningMoments } from "./statistics";

export type { AbTestRolloutStatus, AbTestStatus };

export const abTestConfigSchema = z
  .object({
    key: valuePathSchema
      .optional()
      .describe('Where each request message holds its sticky key, e.g. "payload.user": a key always gets the same version. Requests without one go to the champion, uncounted. "traceId" splits per request. Needed for mode "ab"'),
    share: z.number().gt(0).lt(1).default(0.5).describe("Share of keys the candidate answers"),
    metric: z.enum(["accuracy", "feedback"]).default("accuracy").describe("accuracy: labels on the gate's holdout port, joined by requestId; feedback: a business metric on the gate's feedback port"),
    feedbackAt: valuePathSchema.default("payload.value").describe("metric feedback: where each feedback message holds the metric (a number; true/false count as 1/0); its payload.requestId names the request"),
    alpha: z.number().gt(0).max(0.5).default(0.05).describe("Significance: chance of declaring a difference that is not there, however often the test looks"),
    tau: z.number().positive().default(0.05).describe("Mixture standard deviation τ of the mSPRT in the metric's units: about the smallest difference worth finding (0.05 = 5 accuracy points)"),
    minSamples: z.number().int().min(10).max(10_000_000).default(200).describe("Scored answers each version needs before any decision (at most 10,000,000)"),
    maxSamples: z.number().int().min(20).max(100_000_000).default(20_000).describe("Scored answers, both versions together, after which an undecided test stops and the champion stays (at most 100,000,000)"),
    maxSeconds: z.number().positive().max(2_147_483).default(3600).describe("Longest an undecided test runs before it stops and the champion stays (at most 2,147,483 s, setTimeout's limit)"),
  })
  .refine((c) => c.maxSamples >= 2 * c.minSamples, { path: ["maxSamples"], message: "must be at least 2 × minSamples: both versions need minSamples before a decision" });
export type AbTestConfig = z.output<typeof abTestConfigSchema>;

class Arm {
  readonly moments = new RunningMoments();
  requests = 0;
  errors = 0;
  constructor(readonly version: number) {}
  status(): AbArmStatus {
    const m = this.moments;
    return { version: this.version, requests: this.requests, errors: this.errors, scored: m.count, ...(m.count ? { mean: m.mean, variance: m.variance } : {}) };
  }
}

export class AbTest {
  state: RolloutState = "running";
  readonly done: Promise<AbTestRolloutStatus>;
  readonly startedAt = new Date().toISOString();
  private readonly arms: { champion: Arm; candidate: Arm };
  private readonly keyPath: string[];
  private readonly feedbackAt: string[];
  private readonly awaiting = new Map<string, { arm: Arm; predicted?: number }>();
  private readonly answered = new Map<number, number>();
  private unkeyed = 0;
  private sequential?: AbTestStatus["sequential"];
  private outcome?: AbOutcome;
  private reason?: string;
  private resolveDone!: (s: AbTestRolloutStatus) => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly registry: ModelRegistry,
    readonly model: string,
    readonly candidate: number,
    readonly champion: number,
    readonly config: AbTestConfig,
    private readonly maxErrorRate: number,
  ) {
    if (!config.key) throw new Error('rollout mode "ab" needs rollout.ab.key: where each request holds its sticky key');
    this.keyPath = parsePath(config.key)!;
    this.feedbackAt = parsePath(config.feedbackAt)!;
    this.arms = { champion: new Arm(champion), candidate: new Arm(candidate) };
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.timer = setTimeout(() => void this.finish("rolled-back", "inconclusive", `no significant difference within ${config.maxSeconds} s`), config.maxSeconds * 1000);
    this.timer.unref();
  }

  /** The version a key gets while the test runs: the same one for the same key, every time. */
  assign(key: string): number {
    const digest = createHash("sha256").update(`${this.model}@${this.candidate}\u0000${key}`).digest();
    return digest.readUInt32BE(0) / 4294967296 < this.config.share ? this.candidate : this.champion;
  }

  /** Answers one request: by its key's version while the test runs (the champion when the candidate fails), by the winner after. */
  async serve<T>(requestId: string, run: (version: number) => Promise<T>, message?: Message): Promise<{ version: number; answer: T }> {
    if (this.state !== "running") return this.answer(this.state === "promoted" ? this.candidate : this.champion, await run(this.state === "promoted" ? this.candidate : this.champion));
    const raw = message ? readPath(message, this.keyPath) : undefined;
    const key = typeof raw === "string" || typeof raw === "number" || typeof raw === "bigint" ? String(raw) : undefined;
    if (key === undefined) {
      this.unkeyed++;
      return this.answer(this.champion, await run(this.champion));
    }
    const version = this.assign(key);
    const arm = version === this.candidate ? this.arms.candidate : this.arms.champion;
    const first = await attempt(version, run);
    if (this.state === "running") {
      arm.requests++;
      if (!first.ok) arm.errors++;
      else {
        this.awaiting.set(requestId, { arm, predicted: predictedClass(first.answer) });
        if (this.awaiting.size > MAX_AWAITING_LABEL) this.awaiting.delete(this.awaiting.keys().next().value!);
      }
      this.look();
    }
    // look() may have ended the test while this request ran: a rejected candidate's answer is not used.
    if (first.ok && !(version === this.candidate && (this.state as RolloutState) === "rolled-back")) return this.answer(version, first.answer);
    if (version !== this.candidate) throw (first as { error: unknown }).error;
    return this.answer(this.champion, await run(this.champion));
  }

  /** The true label of an answered request (metric accuracy). */
  label(requestId: string, label: number): void {
    if (this.config.metric !== "accuracy") return;
    const a = this.take(requestId);
    if (a && a.predicted !== undefined) this.score(a.arm, a.predicted === label ? 1 : 0);
  }

  /** A feedback message about an answered request (metric feedback): its metric at `feedbackAt`. */
  feedback(requestId: string, message: Message): void {
    if (this.config.metric !== "feedback") return;
    const value = toNumber(readPath(message, this.feedbackAt));
    if (value === undefined) return;
    const a = this.take(requestId);
    if (a) this.score(a.arm, value);
  }

  abort(reason: string): void {
    if (this.state === "running") void this.finish("rolled-back", "aborted", reason);
  }

  status(): AbTestRolloutStatus {
    const c = this.config;
    return {
      model: this.model,
      candidate: this.candidate,
      champion: this.champion,
      mode: "ab",
      state: this.state,
      startedAt: this.startedAt,
      answered: Object.fromEntries(this.answered),
      reason: this.reason,
      abTest: { key: c.key!, share: c.share, metric: c.metric === "accuracy" ? "accuracy" : c.feedbackAt, alpha: c.alpha, tau: c.tau, minSamples: c.minSamples, maxSamples: c.maxSamples, champion: this.arms.champion.status(), candidate: this.arms.candidate.status(), unkeyed: this.unkeyed, sequential: this.sequential, outcome: this.outcome },
    };
  }

  private take(requestId: string): { arm: Arm; predicted?: number } | undefined {
    const a = this.state === "running" ? this.awaiting.get(requestId) : undefined;
    if (a) this.awaiting.delete(requestId);
    return a;
  }

  private score(arm: Arm, value: number): void {
    arm.moments.add(value);
    this.look();
  }

  private answer<T>(version: number, answer: T): { version: number; answer: T } {
    this.answered.set(version, (this.answered.get(version) ?? 0) + 1);
    return { version, answer };
  }

  /** One look at the data; only looks with both versions at minSamples count, so a decision never rests on fewer. */
  private look(): void {
    if (this.state !== "running") return;
    const { champion, candidate } = this.arms;
    const { minSamples, maxSamples, alpha, tau } = this.config;
    if (candidate.requests >= minSamples && candidate.errors / candidate.requests > this.maxErrorRate)
      return void this.finish("rolled-back", "errors", `candidate failed ${candidate.errors} of ${candidate.requests} requests, allowed ${(100 * this.maxErrorRate).toFixed(2)}%`);
    const [h, c] = [champion.moments, candidate.moments];
    if (h.count < minSamples || c.count < minSamples) {
      if (h.count + c.count >= maxSamples) this.stopUndecided(`${maxSamples} scored answers`);
      return;
    }
    const result = mixtureSprt(h, c, tau, alpha);
    this.sequential = { ...result, pValue: Math.min(result.pValue, this.sequential?.pValue ?? 1) };
    const words = `${this.metricWords()} ${fmt(c.mean)} (n=${c.count}) vs champion ${fmt(h.mean)} (n=${h.count}), difference ${fmt(result.difference)} in [${fmt(result.interval[0])}, ${fmt(result.interval[1])}], always-valid p ${this.sequential.pValue.toPrecision(3)}`;
    if (this.sequential.pValue <= alpha) {
      const better = result.difference > 0;
      return void this.finish(better ? "promoted" : "rolled-back", better ? "better" : "worse", `candidate significantly ${better ? "better" : "worse"} at α=${alpha}: ${words}`);
    }
    if (h.count + c.count >= maxSamples) this.stopUndecided(`${maxSamples} scored answers: ${words}`);
  }

  private metricWords(): string {
    return this.config.metric === "accuracy" ? "accuracy" : this.config.feedbackAt;
  }

  private stopUndecided(why: string): void {
    void this.finish("rolled-back", "inconclusive", `no significant difference after ${why}`);
  }

  private async finish(state: Exclude<RolloutState, "running">, outcome: AbOutcome, reason: string): Promise<void> {
    this.state = state;
    this.outcome = outcome;
    this.reason = reason;
    clearTimeout(this.timer);
    this.awaiting.clear();
    this.reason = await settle(this.registry, this.model, this.candidate, state, "A/B test", reason);
    this.resolveDone(this.status());
  }
}

const fmt = (v: number | undefined) => (v === undefined ? "-" : Number(v.toPrecision(4)).toString());
