/**
 * When to start a training: the decision logic of `control.trigger`, separate from
 * the node so it runs on an explicit clock in tests. Policies (any may be on):
 * - time: every `everyMs`;
 * - volume: `samples` new labelled samples, or `growth` × the samples the last
 *   training had (e.g. 0.2 = +20 %);
 * - performance: rolling accuracy over the last `window` outcomes under `threshold`;
 * - drift: a drift event (optionally only at or above `minMagnitude`).
 * A cooldown after each firing suppresses the next ones (counted, and reported in
 * the next event), so one drift seen by several detectors, or a storm of drift
 * events, starts one training, not ten.
 *
 * @example
 * ```ts
 * const policy = new TriggerPolicy({ cooldownMs: 60_000, drift: {} }, 0);
 * policy.drift({ detector: "adwin", magnitude: 1.4 }, 1_000); // → { kind: "trigger", policy: "drift", … }
 * policy.drift({ detector: "ks", magnitude: 2 }, 2_000);      // → undefined: cooling down
 * ```
 */
export interface TriggerPolicyConfig {
  cooldownMs: number;
  time?: { everyMs: number };
  volume?: { samples?: number; growth?: number };
  performance?: { threshold: number; window: number; minOutcomes: number };
  drift?: { minMagnitude?: number };
}

export interface TriggerEvent {
  kind: "trigger";
  /** The policy that fired. */
  policy: "time" | "volume" | "performance" | "drift";
  /** Why, in one sentence. */
  reason: string;
  /** Labelled samples since the previous firing. */
  newSamples: number;
  /** Rolling accuracy at the time (when outcomes are fed). */
  accuracy?: number;
  /** The drift that caused it, for drift triggers. */
  drift?: { detector?: string; magnitude?: number; reason?: string };
  /** Firings suppressed by the cooldown since the previous event. */
  suppressed: number;
  /** When it fired (ms since epoch, the caller's clock). */
  at: number;
}

export class TriggerPolicy {
  private lastFired = -Infinity;
  private lastTime: number;
  private newSamples = 0;
  private samplesAtLastTraining = 0;
  private suppressed = 0;
  private readonly outcomes: Uint8Array;
  private outcomeNext = 0;
  private outcomeCount = 0;
  private correct = 0;
  fired = 0;

  constructor(private readonly config: TriggerPolicyConfig, now: number) {
    this.lastTime = now;
    this.outcomes = new Uint8Array(config.performance?.window ?? 0);
  }

  get accuracy(): number | undefined {
    return this.outcomeCount ? this.correct / this.outcomeCount : undefined;
  }

  get status(): Record<string, unknown> {
    return { fired: this.fired, suppressed: this.suppressed, newSamples: this.newSamples, accuracy: this.accuracy, outcomes: this.outcomeCount };
  }

  /** Clock tick: fires the time policy when due. */
  tick(now: number): TriggerEvent | undefined {
    const time = this.config.time;
    if (!time || now - this.lastTime < time.everyMs) return undefined;
    this.lastTime = now;
    return this.fire("time", `${time.everyMs} ms since the last scheduled training`, now);
  }

  /** A new labelled sample arrived. */
  sample(now: number): TriggerEvent | undefined {
    this.newSamples++;
    const volume = this.config.volume;
    if (!volume) return undefined;
    if (volume.samples !== undefined && this.newSamples >= volume.samples)
      return this.fire("volume", `${this.newSamples} new labelled samples (≥ ${volume.samples})`, now);
    if (volume.growth !== undefined && this.samplesAtLastTraining > 0 && this.newSamples >= volume.growth * this.samplesAtLastTraining)
      return this.fire("volume", `${this.newSamples} new labelled samples, +${Math.round((100 * this.newSamples) / this.samplesAtLastTraining)} % over the ${this.samplesAtLastTraining} of the last training`, now);
    return undefined;
  }

  /** A prediction's outcome: was it right? */
  outcome(correct: boolean, now: number): TriggerEvent | undefined {
    const perf = this.config.performance;
    if (!perf) return undefined;
    if (this.outcomeCount === perf.window) this.correct -= this.outcomes[this.outcomeNext];
    else this.outcomeCount++;
    this.outcomes[this.outcomeNext] = correct ? 1 : 0;
    this.correct += correct ? 1 : 0;
    this.outcomeNext = (this.outcomeNext + 1) % perf.window;
    const accuracy = this.correct / this.outcomeCount;
    if (this.outcomeCount >= perf.minOutcomes && accuracy < perf.threshold)
      return this.fire("performance", `rolling accuracy ${accuracy.toFixed(3)} over the last ${this.outcomeCount} predictions is under ${perf.threshold}`, now);
    return undefined;
  }

  /** A drift event arrived. */
  drift(event: { detector?: string; magnitude?: number; reason?: string }, now: number): TriggerEvent | undefined {
    const policy = this.config.drift;
    if (!policy) return undefined;
    if (policy.minMagnitude !== undefined && !((event.magnitude ?? 0) >= policy.minMagnitude)) return undefined;
    const event_ = this.fire("drift", `drift reported by ${event.detector ?? "a detector"}${event.reason ? `: ${event.reason}` : ""}`, now);
    if (event_) event_.drift = { detector: event.detector, magnitude: event.magnitude, reason: event.reason };
    return event_;
  }

  coolingDown(now: number): boolean {
    return now - this.lastFired < this.config.cooldownMs;
  }

  private fire(policy: TriggerEvent["policy"], reason: string, now: number): TriggerEvent | undefined {
    if (this.coolingDown(now)) {
      this.suppressed++;
      return undefined;
    }
    const event: TriggerEvent = {
      kind: "trigger",
      policy,
      reason,
      newSamples: this.newSamples,
      ...(this.accuracy !== undefined ? { accuracy: this.accuracy } : {}),
      suppressed: this.suppressed,
      at: now,
    };
    this.fired++;
    this.lastFired = now;
    this.lastTime = now;
    this.samplesAtLastTraining += this.newSamples;
    this.newSamples = 0;
    this.suppressed = 0;
    return event;
  }
}
