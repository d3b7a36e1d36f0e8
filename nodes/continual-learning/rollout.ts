/**
 * Promotion of a candidate that passed the gate: at once (hot swap through the registry,
 * which serving nodes watch), or through a rollout as Argo Rollouts / Flagger do it:
 * - shadow: every request is answered by the champion and mirrored to the candidate; the
 *   answers are compared (and scored where labels are known); the candidate serves nothing;
 * - canary: the candidate answers a growing share of requests (weight steps); at each step
 *   error rate, p99 latency and (with labels) accuracy against the champion are checked;
 *   any failed check rolls back at once: the candidate is marked `rejected` and serves no more.
 * Serving nodes (model.onnx) find their model's rollout in the `cl.rollouts` service and answer
 * each request through `serve()`. Labels come later than answers: `label()` joins them to the
 * answers by request id (the trace id), so accuracy is compared on labelled outcomes.
 * The router lives in one process: the gate and the serving nodes of a rollout must share it
 * (the embedded runtime, or one `evoflow run`); across NATS workers a rollout would see no
 * candidate traffic and roll back after `maxStepSeconds`.
 */
import { z } from "zod";
import type { ModelRegistry } from "../../sdk/registry";
import { AbTest, abTestConfigSchema, type AbTestRolloutStatus } from "./ab-test";
import { attempt, MAX_AWAITING_LABEL, predictedClass, settle, type RolloutState } from "./live-answer";
import { lowestAccuracyDrop } from "./statistics";

export const rolloutConfigSchema = z.object({
  mode: z.enum(["direct", "shadow", "canary", "ab"]).default("direct").describe("direct: hot swap at once; shadow: mirror traffic, compare, then swap; canary: weighted steps with checks; ab: a sequential A/B test on a sticky split (see `ab`)"),
  steps: z.array(z.number().gt(0).max(1)).min(1).default([0.05, 0.25, 0.5, 1]).describe("Canary: share of requests the candidate answers at each step (0.05 = 5%); it is promoted once the last step passes"),
  requestsPerStep: z.number().int().min(1).max(10_000_000).default(200).describe("Candidate answers observed (canary) or mirrored (shadow) before a step is judged (at most 10,000,000)"),
  labelledPerStep: z.number().int().min(0).max(10_000_000).default(0).describe("Labelled candidate answers (labels are joined to answers by request id, however late) also needed before a step is judged; 0 judges without waiting for labels (at most 10,000,000)"),
  maxStepSeconds: z.number().positive().max(2_147_483).default(600).describe("A step that has not gathered its answers (and labels) in this time rolls back: a candidate is promoted only on evidence (at most 2,147,483 s: setTimeout's limit, about 24.8 days)"),
  maxErrorRate: z.number().min(0).max(1).default(0.01).describe("Largest share of failed candidate requests"),
  maxP99Ms: z.number().positive().default(50).describe("Candidate p99 latency budget at each step, ms"),
  maxAccuracyDrop: z.number().min(0).max(1).default(0.05).describe("Largest drop in accuracy on labelled requests against the champion"),
  accuracyConfidence: z
    .number()
    .min(0.5)
    .max(0.9999)
    .default(0.95)
    .describe("A step rolls back on accuracy only when the drop exceeds maxAccuracyDrop at this confidence (one-sided two-proportion z-test): a few dozen labels cannot tell a 5-point drop from noise"),
  minAgreement: z.number().min(0).max(1).default(0).describe("Shadow: least share of mirrored requests where candidate and champion agree (0 = not checked)"),
  ab: abTestConfigSchema.default(abTestConfigSchema.parse({})).describe("Mode ab: the sticky split, the metric and the sequential test (maxErrorRate above also applies)"),
}).refine((c) => c.mode !== "ab" || c.ab.key !== undefined, { path: ["ab", "key"], message: 'mode "ab" needs a sticky key: where each request holds it, e.g. "payload.user"' });
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
  candidate: { requests: number; errorRate: number; p99Ms: number; labelled: number; accuracy?: number };
  champion: { requests: number; labelled: number; accuracy?: number };
  agreement?: number;
  passed: boolean;
  reasons: string[];
}

export type { RolloutState };

/** What a rollout did, for the history and the API: its steps, and how many requests each version answered. */
export interface RolloutStatus {
  model: string;
  candidate: number;
  champion?: number;
  mode: RolloutConfig["mode"];
  state: RolloutState;
  startedAt: string;
  /** The step being observed (running) and the candidate's share of requests in it. */
  step: number;
  weight: number;
  steps: StepReport[];
  /** Requests answered, by version; a shadow candidate answers none. */
  answered: Record<string, number>;
  /** Requests mirrored to a shadow candidate. */
  mirrored: number;
  reason?: string;
}

export type RolloutResult = RolloutStatus & { state: Exclude<RolloutState, "running"> };

/** What serves requests while a candidate is tested live: a shadow or canary rollout, or an A/B test. */
export type LiveRollout = Rollout | AbTest;
export type LiveStatus = RolloutStatus | AbTestRolloutStatus;

class Window {
  latencies: number[] = [];
  errors = 0;
  labelled = 0;
  right = 0;
  add(o: Outcome): void {
    this.latencies.push(o.latencyMs);
    if (!o.ok) this.errors++;
    if (o.ok && o.label !== undefined && o.predicted !== undefined) this.addLabel(o.predicted === o.label);
  }
  addLabel(correct: boolean): void {
    this.labelled++;
    if (correct) this.right++;
  }
  get requests(): number {
    return this.latencies.length;
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
  readonly startedAt = new Date().toISOString();
  private reason?: string;
  private resolveDone!: (r: RolloutResult) => void;
  private step = 0;
  private requests = 0;
  private candidateWindow = new Window();
  private championWindow = new Window();
  private agreements = 0;
  private compared = 0;
  /** Answers waiting for their label, by request id; a Map iterates oldest first, so the oldest is dropped first. */
  private readonly awaitingLabel = new Map<string, { version: number; predicted: number }[]>();
  private readonly answered = new Map<number, number>();
  private mirrored = 0;
  private stepTimer?: NodeJS.Timeout;

  constructor(
    private readonly registry: ModelRegistry,
    readonly model: string,
    readonly candidate: number,
    readonly champion: number | undefined,
    readonly config: RolloutConfig,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    if (config.mode === "direct" || champion === undefined) void this.finish("promoted", champion === undefined ? "no champion to compare with" : "direct hot swap");
    else this.armStepTimer();
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

  /**
   * Answers one request under the rollout: picks the version, runs it with `run`, records the
   * outcome (to be scored when its label comes, by `requestId`), and answers with the champion
   * instead when the candidate fails or was rolled back while it ran, so the rollout fails no
   * request and a rolled-back candidate answers none. Shadow copies run beside the champion's
   * answer and are not waited for.
   */
  async serve<T>(requestId: string, run: (version: number) => Promise<T>): Promise<{ version: number; answer: T }> {
    const { serve: version, mirror } = this.route();
    const shadow = mirror === undefined ? undefined : attempt(mirror, run);
    const first = await attempt(version, run);
    const predicted = first.ok ? predictedClass(first.answer) : undefined;
    this.record(version, { ok: first.ok, latencyMs: first.latencyMs, predicted }, { requestId });
    if (shadow) {
      this.mirrored++;
      void shadow.then((s) => this.record(mirror!, { ok: s.ok, latencyMs: s.latencyMs, predicted: s.ok ? predictedClass(s.answer) : undefined }, { requestId, championPredicted: predicted }));
    }
    if (first.ok && (version !== this.candidate || this.state !== "rolled-back")) return this.answer(version, first.answer);
    if (version !== this.candidate || this.champion === undefined) throw (first as { error: unknown }).error;
    return this.answer(this.champion, await run(this.champion));
  }

  /** Reports how a request went on `version`: `requestId` lets a later label score it; `championPredicted` (shadow) lets answers be compared. */
  record(version: number, outcome: Outcome, options: { requestId?: string; championPredicted?: number } = {}): void {
    if (this.state !== "running") return;
    const window = this.windowOf(version);
    if (!window) return;
    window.add(outcome);
    if (version === this.candidate && options.championPredicted !== undefined && outcome.predicted !== undefined) {
      this.compared++;
      if (options.championPredicted === outcome.predicted) this.agreements++;
    }
    if (options.requestId !== undefined && outcome.ok && outcome.predicted !== undefined && outcome.label === undefined) {
      const answers = this.awaitingLabel.get(options.requestId);
      if (answers) answers.push({ version, predicted: outcome.predicted });
      else this.awaitingLabel.set(options.requestId, [{ version, predicted: outcome.predicted }]);
      if (this.awaitingLabel.size > MAX_AWAITING_LABEL) this.awaitingLabel.delete(this.awaitingLabel.keys().next().value!);
    }
    this.judgeWhenReady();
  }

  /**
   * The true label of a request answered earlier. It scores the answers in the current step's
   * window even if they were given in the previous step: labels are late, and a rollback should
   * not wait for them to line up with steps.
   */
  label(requestId: string, label: number): void {
    const answers = this.awaitingLabel.get(requestId);
    if (!answers || this.state !== "running") return;
    this.awaitingLabel.delete(requestId);
    for (const a of answers) this.windowOf(a.version)?.addLabel(a.predicted === label);
    this.judgeWhenReady();
  }

  /** Ends a running rollout without promoting (e.g. its pipeline stops). */
  abort(reason: string): void {
    if (this.state === "running") void this.finish("rolled-back", reason);
  }

  status(): RolloutStatus {
    return {
      model: this.model,
      candidate: this.candidate,
      champion: this.champion,
      mode: this.config.mode,
      state: this.state,
      startedAt: this.startedAt,
      step: this.step,
      weight: this.weight,
      steps: this.steps,
      answered: Object.fromEntries(this.answered),
      mirrored: this.mirrored,
      reason: this.reason,
    };
  }

  private answer<T>(version: number, answer: T): { version: number; answer: T } {
    this.answered.set(version, (this.answered.get(version) ?? 0) + 1);
    return { version, answer };
  }

  private windowOf(version: number): Window | undefined {
    return version === this.candidate ? this.candidateWindow : version === this.champion ? this.championWindow : undefined;
  }

  private judgeWhenReady(): void {
    const c = this.candidateWindow;
    if (this.state === "running" && c.requests >= this.config.requestsPerStep && c.labelled >= this.config.labelledPerStep) this.judge();
  }

  private judge(): void {
    const c = this.candidateWindow;
    const h = this.championWindow;
    const reasons: string[] = [];
    const errorRate = c.errors / c.requests;
    if (errorRate > this.config.maxErrorRate) reasons.push(`error rate ${(100 * errorRate).toFixed(2)}% > ${(100 * this.config.maxErrorRate).toFixed(2)}%`);
    if (c.p99 > this.config.maxP99Ms) reasons.push(`p99 ${c.p99.toFixed(2)} ms > ${this.config.maxP99Ms} ms`);
    const ca = c.accuracy;
    const ha = h.accuracy;
    if (ca !== undefined && ha !== undefined) {
      const lowest = lowestAccuracyDrop(h, c, this.config.accuracyConfidence);
      if (lowest > this.config.maxAccuracyDrop)
        reasons.push(
          `accuracy ${(100 * ca).toFixed(1)}% vs champion ${(100 * ha).toFixed(1)}% on labelled requests (${c.labelled} and ${h.labelled}): drop of at least ${(100 * lowest).toFixed(1)} points at ${(100 * this.config.accuracyConfidence).toFixed(0)}% confidence, allowed ${(100 * this.config.maxAccuracyDrop).toFixed(1)}`,
        );
    }
    const agreement = this.compared ? this.agreements / this.compared : undefined;
    if (this.config.minAgreement > 0 && agreement !== undefined && agreement < this.config.minAgreement)
      reasons.push(`agreement with the champion ${(100 * agreement).toFixed(1)}% < ${(100 * this.config.minAgreement).toFixed(1)}%`);
    this.report(reasons, agreement);
    if (reasons.length) return void this.finish("rolled-back", `step ${this.step + 1}: ${reasons.join("; ")}`);
    this.candidateWindow = new Window();
    this.championWindow = new Window();
    this.agreements = this.compared = 0;
    this.step++;
    if (this.config.mode === "shadow" || this.step >= this.config.steps.length) return void this.finish("promoted", `${this.config.mode} passed ${this.steps.length} step(s)`);
    this.armStepTimer();
  }

  private report(reasons: string[], agreement?: number): void {
    const c = this.candidateWindow;
    const h = this.championWindow;
    this.steps.push({
      step: this.step,
      weight: this.weight,
      candidate: { requests: c.requests, errorRate: c.requests ? c.errors / c.requests : 0, p99Ms: c.p99, labelled: c.labelled, accuracy: c.accuracy },
      champion: { requests: h.requests, labelled: h.labelled, accuracy: h.accuracy },
      agreement,
      passed: reasons.length === 0,
      reasons,
    });
  }

  private armStepTimer(): void {
    clearTimeout(this.stepTimer);
    this.stepTimer = setTimeout(() => {
      const c = this.candidateWindow;
      const reason = `not enough evidence in ${this.config.maxStepSeconds} s: ${c.requests}/${this.config.requestsPerStep} candidate answers, ${c.labelled}/${this.config.labelledPerStep} labelled`;
      this.report([reason]);
      void this.finish("rolled-back", `step ${this.step + 1}: ${reason}`);
    }, this.config.maxStepSeconds * 1000);
    this.stepTimer.unref();
  }

  private async finish(state: Exclude<RolloutState, "running">, reason: string): Promise<void> {
    // Stop routing to the candidate first: after a rollback not one more request reaches it.
    this.state = state;
    this.reason = reason;
    clearTimeout(this.stepTimer);
    this.awaitingLabel.clear();
    this.reason = await settle(this.registry, this.model, this.candidate, state, `${this.config.mode} rollout`, reason);
    this.resolveDone(this.status() as RolloutResult);
  }
}

/**
 * The rollouts in progress, by model: the runtime service (`cl.rollouts`) that validator.gate
 * starts rollouts on and serving nodes consult per request. It also keeps each model's last
 * finished rollout, for the API.
 */
export class RolloutRouter {
  private readonly active = new Map<string, LiveRollout>();
  private readonly finished = new Map<string, LiveStatus>();

  /** A shadow or canary rollout (direct, or no champion: promoted at once). */
  start(registry: ModelRegistry, model: string, candidate: number, champion: number | undefined, config: RolloutConfig): Rollout {
    return this.track(model, () => new Rollout(registry, model, candidate, champion, config));
  }

  /** Mode "ab": an A/B test against the champion; without a champion, a direct promotion. */
  startLive(registry: ModelRegistry, model: string, candidate: number, champion: number | undefined, config: RolloutConfig): LiveRollout {
    if (config.mode !== "ab" || champion === undefined) return this.start(registry, model, candidate, champion, config);
    return this.track(model, () => new AbTest(registry, model, candidate, champion, config.ab, config.maxErrorRate));
  }

  get(model: string): LiveRollout | undefined {
    return this.active.get(model);
  }

  /** Running rollouts, then each model's last finished one. */
  list(): LiveStatus[] {
    return [...[...this.active.values()].map((r) => r.status()), ...[...this.finished.entries()].filter(([m]) => !this.active.has(m)).map(([, r]) => r)];
  }

  private track<R extends LiveRollout>(model: string, make: () => R): R {
    const running = this.active.get(model);
    if (running) throw new Error(`a rollout of ${model}@${running.candidate} is already running`);
    const rollout = make();
    this.active.set(model, rollout);
    void (rollout.done as Promise<LiveStatus>).then((result) => {
      if (this.active.get(model) === rollout) this.active.delete(model);
      this.finished.set(model, result);
    });
    return rollout;
  }
}
