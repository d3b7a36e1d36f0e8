/**
 * The freshness backtest and schedule what-if behind `evoflow cl backtest` (backtest-cli.ts),
 * the two questions of "quantify the value of data freshness" answered on a recorded stream with
 * the pipeline's own trainer (train.ts, its config as the node parsed it) and drift detector:
 *
 * - freshness: the stream is cut into `windows` equal windows by arrival order; a model trained
 *   on the window `age` windows before the newest is scored on the newest (age 1 … windows − 1);
 * - schedules: the stream is replayed test-then-train (prequential) from the end of the first
 *   window, whose model every schedule starts from; a schedule retrains every N samples, every
 *   H hours of message time, or on the drift node's alarm, or never. A retraining runs as
 *   trainer.tfjs does: on the non-holdout examples since the last one (the newest `maxSamples`),
 *   skipped below `minSamples`, stateful runs warm-starting from the current model and its CL
 *   state. On drift, the examples before the alarm are dropped (they are the concept that
 *   changed: as DDM's authors retrain on the examples after the change, Gama et al. 2004) and the
 *   retraining runs once `minSamples` examples have arrived after it; a streaming detector
 *   watches the model's 0/1 errors, a two-sample one the features. The pipeline's own
 *   control.trigger is replayed too (its policies and cooldown on message time, its performance
 *   policy fed the model's outcomes, its drift policy the drift node's alarms when wired to it). Every candidate is taken at once: the gate and the training's own duration are not
 *   replayed, so a schedule's accuracy is the best it could do.
 *
 * Compute is the process's CPU time (user + system, every thread) during each training, and the
 * samples its forward and backward passes saw (train.ts's samplesSeen).
 */
import { TriggerPolicy, type TriggerPolicyConfig } from "../control/trigger-policy";
import { fromOnnx, type DenseModel } from "./dense";
import { isHoldout, toSet } from "./examples";
import { predict, train, type ClState, type TrainConfig } from "./train";

export interface Sample {
  x: Float32Array;
  y: number;
  /** Message time, ms since the epoch. */
  ts?: number;
}

export interface BacktestTrainer {
  node: string;
  config: TrainConfig;
  minSamples: number;
  maxSamples: number;
  holdoutShare: number;
  holdoutSeed: number;
}

/** Feeds one replayed example (and whether the current model got it wrong); true on a drift alarm. */
export type DriftCheck = (x: Float32Array, error: number) => boolean;

export interface BacktestPlan {
  trainer: BacktestTrainer;
  windows: number;
  everySamples: number[];
  everyHours: number[];
  /** The pipeline's drift node, a fresh detector for each replay. */
  drift?: { node: string; type: string; watches: "error" | "features"; make(): DriftCheck };
  /** The control.trigger that starts the trainer: its policies and cooldown on message time, fed the drift node's alarms when wired to it. */
  trigger?: { node: string; config: TriggerPolicyConfig; fedByDrift: boolean };
}

export type Schedule = { kind: "never" } | { kind: "samples"; every: number } | { kind: "hours"; every: number } | { kind: "drift"; node: string } | { kind: "trigger"; node: string };

export interface Compute {
  trainings: number;
  cpuSeconds: number;
  wallSeconds: number;
  /** Examples through forward + backward passes, summed over the trainings. */
  samplesSeen: number;
}

export interface WindowSpan {
  from: number;
  to: number;
  firstTs?: number;
  lastTs?: number;
}

export interface FreshnessRow extends Compute {
  age: number;
  window: WindowSpan;
  trainedOn: number;
  accuracy: number;
}

export interface ScheduleRow extends Compute {
  schedule: string;
  policy: Schedule;
  /** Retrainings due that had fewer than minSamples new examples. */
  skipped: number;
  /** The drift node's alarms during the replay (on-drift schedules). */
  alarms?: number;
  /** Prequential accuracy from the end of the first window. */
  accuracy: number;
  /** Prequential accuracy on the newest window. */
  recentAccuracy: number;
  /** Sample indices where a retrained model took over. */
  retrainedAt: number[];
  /** Accuracy over each stretch of `curveEvery` samples, ending at `end`. */
  curve: { end: number; accuracy: number }[];
}

export interface BacktestResult {
  samples: number;
  windowSize: number;
  windows: WindowSpan[];
  freshness: FreshnessRow[];
  schedules: ScheduleRow[];
  curveEvery: number;
}

export type BacktestProgress = (p: { stage: "freshness" | "schedules"; label: string; done: number; total: number }) => void;

interface Trained {
  onnx: Uint8Array;
  model: DenseModel;
  state: ClState;
  compute: Compute;
}

const PREDICT_CHUNK = 256;
/** A detector's magnitude is 1 at its drift threshold (drift/detector.ts): the least an alarm has, what a trigger's minMagnitude is compared with. */
const ALARM_MAGNITUDE = 1;

async function trainOn(trainer: BacktestTrainer, examples: Sample[], start?: Trained): Promise<Trained> {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const result = await train({ config: trainer.config, data: toSet(examples), base: start?.onnx, state: start?.state });
  const used = process.cpuUsage(cpu);
  const compute = { trainings: 1, cpuSeconds: (used.user + used.system) / 1e6, wallSeconds: (performance.now() - wall) / 1000, samplesSeen: result.samplesSeen };
  return { onnx: result.onnx, model: fromOnnx(result.onnx), state: result.state, compute };
}

/** The class each example of `samples[from, to)` is given by the model. */
async function classify(model: DenseModel, samples: Sample[], from: number, to: number): Promise<Int32Array> {
  const features = samples[from].x.length;
  const x = new Float32Array((to - from) * features);
  for (let i = from; i < to; i++) x.set(samples[i].x, (i - from) * features);
  const scores = await predict(model, x, to - from);
  const classes = scores.length / (to - from);
  const out = new Int32Array(to - from);
  for (let r = 0; r < out.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

async function accuracyOn(model: DenseModel, samples: Sample[], from: number, to: number): Promise<number> {
  let correct = 0;
  for (let i = from; i < to; i += PREDICT_CHUNK) {
    const end = Math.min(to, i + PREDICT_CHUNK);
    const predicted = await classify(model, samples, i, end);
    predicted.forEach((c, k) => (correct += c === samples[i + k].y ? 1 : 0));
  }
  return correct / (to - from);
}

const add = (a: Compute, b: Compute): Compute => ({ trainings: a.trainings + b.trainings, cpuSeconds: a.cpuSeconds + b.cpuSeconds, wallSeconds: a.wallSeconds + b.wallSeconds, samplesSeen: a.samplesSeen + b.samplesSeen });
const NO_COMPUTE: Compute = { trainings: 0, cpuSeconds: 0, wallSeconds: 0, samplesSeen: 0 };

export function scheduleName(s: Schedule): string {
  if (s.kind === "never") return "never retrain";
  if (s.kind === "samples") return `every ${s.every} samples`;
  if (s.kind === "hours") return s.every < 1 ? `every ${+(s.every * 3600).toPrecision(4)} s` : `every ${s.every} h`;
  if (s.kind === "drift") return `on drift (${s.node})`;
  return `pipeline's trigger (${s.node})`;
}

export function splitWindows(samples: Sample[], windows: number): WindowSpan[] {
  const size = Math.floor(samples.length / windows);
  return Array.from({ length: windows }, (_, w) => {
    // The newest window ends at the stream's end; any remainder goes to it.
    const from = w * size;
    const to = w === windows - 1 ? samples.length : from + size;
    return { from, to, firstTs: samples[from].ts, lastTs: samples[to - 1].ts };
  });
}

function trainingExamples(trainer: BacktestTrainer, samples: Sample[], span: WindowSpan): Sample[] {
  return samples.slice(span.from, span.to).filter((s) => !isHoldout(s.x, trainer.holdoutShare, trainer.holdoutSeed));
}

/** Replays one schedule test-then-train from `start`, beginning with the first window's model. */
async function replay(plan: BacktestPlan, samples: Sample[], policy: Schedule, first: Trained, start: number, recentFrom: number, curveEvery: number, onProgress?: BacktestProgress): Promise<ScheduleRow> {
  const { trainer } = plan;
  const detector = policy.kind === "drift" || (policy.kind === "trigger" && plan.trigger!.fedByDrift) ? plan.drift!.make() : undefined;
  const trigger = policy.kind === "trigger" ? new TriggerPolicy(plan.trigger!.config, samples[start].ts!) : undefined;
  let current = first;
  let compute = NO_COMPUTE;
  let buffer: Sample[] = [];
  let predicted: Int32Array = new Int32Array(0);
  let chunkFrom = start;
  let sinceTraining = 0;
  let lastTrainingTs = samples[start].ts ?? 0;
  let skipped = 0;
  let alarms = 0;
  let afterAlarm = false;
  let correct = 0;
  let recentCorrect = 0;
  let stretch = 0;
  const retrainedAt: number[] = [];
  const curve: ScheduleRow["curve"] = [];
  const name = scheduleName(policy);
  for (let i = start; i < samples.length; i++) {
    if (i - chunkFrom >= predicted.length) {
      chunkFrom = i;
      predicted = await classify(current.model, samples, i, Math.min(samples.length, i + PREDICT_CHUNK));
      onProgress?.({ stage: "schedules", label: name, done: i - start, total: samples.length - start });
    }
    const sample = samples[i];
    const error = predicted[i - chunkFrom] === sample.y ? 0 : 1;
    correct += 1 - error;
    stretch += 1 - error;
    if (i >= recentFrom) recentCorrect += 1 - error;
    if ((i - start + 1) % curveEvery === 0 || i === samples.length - 1) {
      const length = (i - start) % curveEvery + 1;
      curve.push({ end: i + 1, accuracy: stretch / length });
      stretch = 0;
    }
    if (!isHoldout(sample.x, trainer.holdoutShare, trainer.holdoutSeed)) buffer.push(sample);
    if (buffer.length > trainer.maxSamples) buffer.shift();
    sinceTraining++;
    const alarm = detector?.(sample.x, error) ?? false;
    if (alarm) alarms++;
    // What came before the alarm is the concept that changed: the retraining waits for minSamples examples after it.
    if (alarm && policy.kind === "drift" && !afterAlarm) (afterAlarm = true), (buffer = []);
    let due: boolean;
    if (trigger) {
      // Every policy sees every example, as the node's inputs do; any firing (outside the cooldown) starts the trainer.
      const now = sample.ts!;
      const fired = [trigger.tick(now), trigger.sample(now), trigger.outcome(error === 0, now), alarm ? trigger.drift({ detector: plan.drift!.node, magnitude: ALARM_MAGNITUDE }, now) : undefined];
      due = fired.some(Boolean);
    } else
      due =
        policy.kind === "samples" ? sinceTraining >= policy.every
        : policy.kind === "hours" ? sample.ts! - lastTrainingTs >= policy.every * 3_600_000
        : afterAlarm && buffer.length >= trainer.minSamples;
    if (!due) continue;
    afterAlarm = false;
    sinceTraining = 0;
    lastTrainingTs = sample.ts ?? lastTrainingTs;
    if (buffer.length < trainer.minSamples) {
      skipped++;
      continue;
    }
    current = await trainOn(trainer, buffer, trainer.config.mode === "stateful" ? current : undefined);
    compute = add(compute, current.compute);
    buffer = [];
    retrainedAt.push(i + 1);
    predicted = new Int32Array(0); // the next example is answered by the new model
  }
  onProgress?.({ stage: "schedules", label: name, done: samples.length - start, total: samples.length - start });
  return { schedule: name, policy, ...compute, skipped, ...(detector && { alarms }), accuracy: correct / (samples.length - start), recentAccuracy: recentCorrect / (samples.length - recentFrom), retrainedAt, curve };
}

export async function runBacktest(samples: Sample[], plan: BacktestPlan, onProgress?: BacktestProgress): Promise<BacktestResult> {
  const { trainer, windows: count } = plan;
  if (!Number.isInteger(count) || count < 2) throw new Error(`windows must be an integer ≥ 2, got ${count}`);
  if (samples.length < count * 2) throw new Error(`the stream has ${samples.length} labelled examples: too few for ${count} windows`);
  if ((plan.everyHours.length || plan.trigger) && samples.some((s) => s.ts === undefined)) throw new Error(`${plan.trigger ? `replaying trigger ${plan.trigger.node}` : "an every-H-hours schedule"} needs a timestamp on every message`);
  const windows = splitWindows(samples, count);
  const newest = windows[count - 1];

  const freshness: FreshnessRow[] = [];
  let first: Trained | undefined;
  for (let age = 1; age < count; age++) {
    const span = windows[count - 1 - age];
    onProgress?.({ stage: "freshness", label: `window age ${age}`, done: age - 1, total: count - 1 });
    const examples = trainingExamples(trainer, samples, span);
    if (examples.length === 0) throw new Error(`window ${count - 1 - age} has no training example outside the holdout share`);
    const trained = await trainOn(trainer, examples);
    if (age === count - 1) first = trained;
    freshness.push({ age, window: span, trainedOn: examples.length, accuracy: await accuracyOn(trained.model, samples, newest.from, newest.to), ...trained.compute });
  }
  onProgress?.({ stage: "freshness", label: "done", done: count - 1, total: count - 1 });

  const policies: Schedule[] = [
    { kind: "never" },
    ...plan.everySamples.map((every) => ({ kind: "samples" as const, every })),
    ...plan.everyHours.map((every) => ({ kind: "hours" as const, every })),
    ...(plan.drift ? [{ kind: "drift" as const, node: plan.drift.node }] : []),
    ...(plan.trigger ? [{ kind: "trigger" as const, node: plan.trigger.node }] : []),
  ];
  const start = windows[0].to;
  const curveEvery = Math.max(1, Math.round((samples.length - start) / 60));
  const schedules: ScheduleRow[] = [];
  for (const policy of policies) schedules.push(await replay(plan, samples, policy, first!, start, newest.from, curveEvery, onProgress));
  return { samples: samples.length, windowSize: windows[0].to - windows[0].from, windows, freshness, schedules, curveEvery };
}
