/**
 * The validator gate: a candidate becomes champion only if every configured check passes.
 * Models are run as they would serve: ONNX files by onnxruntime-node, sklearn and python models
 * by the `models` service (the agent's Python workers), online learners by the learner.
 *
 * Checks: accuracy on a holdout of every class seen so far ≥ threshold; no regression against
 * the champion beyond ε, overall and per class; p99 latency and file size within budget; a
 * trusted golden set (data that never came from the stream) does not regress — the guard
 * against poisoned or adversarial training data, which a holdout drawn from the same
 * (poisoned) stream cannot catch; with a champion, CPU per 1,000 inferences no more than
 * `maxCostRatio` × the champion's.
 *
 * The cost check is on by default but lenient (2×): both models are measured one after the
 * other on this thread's own CPU clock (onnx/run-cpu.ts), so traffic served meanwhile does not
 * skew it, and the same architecture warm-started from the champion measures within a few per
 * cent of it; a candidate twice as costly is a changed model (a wider layer, another feature
 * extractor) that someone should look at before it serves. 0 turns it off.
 */
import { ort } from "../../onnx/ort";
import { z } from "zod";
import { profileModel } from "../../onnx/profile";
import { cpuSecondsPerRun } from "../../onnx/run-cpu";
import { costSettingsSchema, per1000, type CostModel, type CostPer1000 } from "../../sdk/cost";
import type { ModelService } from "../../sdk/models";
import { tensor } from "../../sdk/ports";
import type { ModelFormat, ModelProfile } from "../../sdk/registry";
import { ONLINE_FORMAT, OnlineLearner } from "../model/online/learner";
import type { LabelledSet } from "./fashion-mnist";
import type { Evaluation, GateCheck, GateReport } from "../../sdk/api-types";

export type { Evaluation, GateCheck, GateReport };

export const gateConfigSchema = z.object({
  minAccuracy: z.number().min(0).max(1).default(0.7).describe("Holdout accuracy (all classes seen so far) the candidate must reach"),
  maxRegression: z.number().min(0).max(1).default(0.02).describe("ε: largest allowed drop in holdout accuracy against the champion"),
  maxClassRegression: z.number().min(0).max(1).default(0.1).describe("Largest allowed drop on any single class the champion was evaluated on"),
  minClassExamples: z.number().int().min(1).max(10_000_000).default(20).describe("Classes with fewer holdout examples are reported but not judged per class (at most 10,000,000)"),
  maxP99Ms: z.number().positive().default(50).describe("p99 latency budget, milliseconds, one example per call"),
  maxSizeBytes: z.number().int().positive().max(4_294_967_296).default(50_000_000).describe("Largest allowed ONNX file (at most 4 GiB)"),
  maxGoldenRegression: z.number().min(0).max(1).default(0.02).describe("Largest allowed drop on the trusted golden set against the champion"),
  latencyRuns: z.number().int().min(10).max(1_000_000).default(200).describe("Timed single-example calls for the p99 (after 20 warm-up calls), through the profiler (at most 1,000,000)"),
  maxCostRatio: z.number().min(0).max(1000).default(2).describe("Largest allowed CPU per 1,000 inferences against the champion's (both measured here, batch size 1, latencyRuns calls each); 0 turns the check off"),
});
export type GateConfig = z.output<typeof gateConfigSchema>;

/** Predictions over a labelled set, scored overall and per class; `predict` answers a chunk of rows with a class each. */
async function tally(set: LabelledSet, classes: readonly number[] | undefined, predict: (x: Float32Array, n: number) => Promise<ArrayLike<number>>): Promise<Evaluation> {
  const wanted = classes ? new Set(classes) : undefined;
  const per = new Map<number, { right: number; count: number }>();
  let right = 0;
  let count = 0;
  const chunk = 1000;
  for (let from = 0; from < set.count; from += chunk) {
    const n = Math.min(chunk, set.count - from);
    const predicted = await predict(set.x.subarray(from * set.features, (from + n) * set.features), n);
    for (let i = 0; i < n; i++) {
      const label = set.y[from + i];
      if (wanted && !wanted.has(label)) continue;
      const slot = per.get(label) ?? { right: 0, count: 0 };
      slot.count++;
      count++;
      if (predicted[i] === label) (slot.right++, right++);
      per.set(label, slot);
    }
  }
  const perClass = Object.fromEntries([...per.entries()].sort((a, b) => a[0] - b[0]).map(([c, s]) => [String(c), { accuracy: s.right / s.count, count: s.count }]));
  return { accuracy: count ? right / count : NaN, count, perClass };
}

/** The argmax of each of the `n` rows of a score matrix. */
function argmaxRows(scores: ArrayLike<number>, n: number): Int32Array {
  const width = scores.length / n;
  const best = new Int32Array(n);
  for (let i = 0; i < n; i++) for (let j = 1; j < width; j++) if (scores[i * width + j] > scores[i * width + best[i]]) best[i] = j;
  return best;
}

/** Argmax predictions of an ONNX classifier over a labelled set, scored overall and per class. */
export async function evaluateOnnx(bytes: Uint8Array, set: LabelledSet, classes?: readonly number[]): Promise<Evaluation> {
  // A session that lives for one evaluation: no memory arena (kept at its peak until release), no memory pattern, no thread pool.
  const session = await ort.InferenceSession.create(bytes, { enableCpuMemArena: false, enableMemPattern: false, intraOpNumThreads: 1 });
  try {
    return await tally(set, classes, async (x, n) => {
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x, [n, set.features]) });
      return argmaxRows(out[session.outputNames[0]].data as Float32Array, n);
    });
  } finally {
    await session.release();
  }
}

/** A registry version the `models` service runs: how the gate judges sklearn and python models, in the agent's Python workers as they serve. */
export interface HostedModel {
  models: ModelService;
  name: string;
  version: number;
}

/**
 * A registry artifact the gate can judge: ONNX (run by onnxruntime), an online learner's
 * online-json snapshot (run by the learner), or an sklearn / python model (run by the `models`
 * service, `hosted`).
 */
export interface GateArtifact {
  bytes: Uint8Array;
  format?: ModelFormat;
  hosted?: HostedModel;
}

const isOnnx = (a?: GateArtifact) => a !== undefined && (a.format === undefined || a.format === "onnx");

/** One batch of rows through a hosted model: its `label` output when it has one (an sklearn classifier's), else the argmax of its first output. */
async function hostedPredictor(artifact: GateArtifact, features: number): Promise<(x: Float32Array, n: number) => Promise<ArrayLike<number>>> {
  const hosted = artifact.hosted;
  if (!hosted) throw new Error(`a ${artifact.format} model is judged through the models service (the agent), which was not given to the gate`);
  const { models, name, version } = hosted;
  const described = await models.describe(name, version);
  const output = described.outputs.find((o) => o.name === "label") ?? described.outputs[0];
  return async (x, n) => {
    const out = await models.infer(name, version, { [described.inputs[0].name]: tensor("float32", [n, features], x) }, [output.name]);
    const data = out[output.name].data as ArrayLike<number | bigint>;
    return output.name === "label" ? Int32Array.from(data, Number) : argmaxRows(Array.from(data, Number), n);
  };
}

export async function evaluateArtifact(artifact: GateArtifact, set: LabelledSet, classes?: readonly number[]): Promise<Evaluation> {
  if (isOnnx(artifact)) return evaluateOnnx(artifact.bytes, set, classes);
  if (artifact.format !== ONLINE_FORMAT) return tally(set, classes, await hostedPredictor(artifact, set.features));
  const learner = OnlineLearner.fromSnapshot(artifact.bytes);
  return tally(set, classes, async (x, n) => {
    const out = new Float32Array(n * learner.classes);
    for (let i = 0; i < n; i++) out.set(learner.predictProbaOne(x.subarray(i * set.features, (i + 1) * set.features)), i * learner.classes);
    return argmaxRows(out, n);
  });
}

/** p50/p99 of single-example predictions, after 20 warm-up calls (the ONNX profiler's protocol), for models the profiler does not run. */
async function singleExampleLatency(holdout: LabelledSet, runs: number, predictOne: (row: Float32Array) => unknown): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs + 20; i++) {
    const k = i % Math.max(1, holdout.count);
    const t = performance.now();
    await predictOne(holdout.x.subarray(k * holdout.features, (k + 1) * holdout.features));
    if (i >= 20) times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

async function latencyOf(artifact: GateArtifact, holdout: LabelledSet, runs: number): Promise<{ p50: number; p99: number }> {
  if (artifact.format === ONLINE_FORMAT) {
    const learner = OnlineLearner.fromSnapshot(artifact.bytes);
    return singleExampleLatency(holdout, runs, (row) => learner.predictProbaOne(row));
  }
  // A request's latency through the agent, its OIP hop to the Python worker included.
  const predict = await hostedPredictor(artifact, holdout.features);
  return singleExampleLatency(holdout, runs, (row) => predict(row, 1));
}

export interface GateInput {
  candidate: Uint8Array;
  /** The candidate's format (default ONNX). */
  candidateFormat?: ModelFormat;
  /** How to run the candidate when it is not ONNX or online-json (an sklearn or python model). */
  candidateHosted?: HostedModel;
  champion?: { bytes: Uint8Array; version?: number; format?: ModelFormat; hosted?: HostedModel };
  /** Holdout examples of every class seen so far (never trained on). */
  holdout: LabelledSet;
  /** The trusted golden set, if configured. */
  golden?: LabelledSet;
  config: GateConfig;
  /** Prices the CPU measured (the runtime's `cost` service); the default settings when absent. */
  cost?: CostModel;
}

function defaultCost(): CostModel {
  const settings = costSettingsSchema.parse({});
  return { settings, rate: () => ({ source: "model", joulesPerCpuSecond: settings.wattsPerCore }) };
}

/** CPU, energy and cost per 1,000 single-example inferences of each model, their runs alternating (onnx/run-cpu.ts). */
async function measureCosts(models: Uint8Array[], runs: number, cost: CostModel): Promise<CostPer1000[]> {
  const rate = cost.rate();
  return (await cpuSecondsPerRun(models, runs)).map((seconds) => per1000(seconds * runs, runs, cost.settings, rate)!);
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export async function runGate(input: GateInput): Promise<GateReport> {
  const { config } = input;
  const checks: GateCheck[] = [];
  const candidate: GateArtifact = { bytes: input.candidate, format: input.candidateFormat, hosted: input.candidateHosted };
  const holdout = await evaluateArtifact(candidate, input.holdout);
  checks.push({
    name: "holdout-accuracy",
    passed: holdout.accuracy >= config.minAccuracy,
    value: holdout.accuracy,
    threshold: config.minAccuracy,
    detail: `accuracy ${pct(holdout.accuracy)} on ${holdout.count} holdout examples of classes [${Object.keys(holdout.perClass)}], needs ≥ ${pct(config.minAccuracy)}`,
  });

  let championHoldout: Evaluation | undefined;
  let championGolden: Evaluation | undefined;
  if (input.champion) {
    championHoldout = await evaluateArtifact(input.champion, input.holdout);
    const drop = championHoldout.accuracy - holdout.accuracy;
    checks.push({
      name: "no-regression",
      passed: drop <= config.maxRegression,
      value: drop,
      threshold: config.maxRegression,
      detail: `candidate ${pct(holdout.accuracy)} vs champion ${pct(championHoldout.accuracy)} on the holdout: drop ${pct(drop)}, allowed ≤ ${pct(config.maxRegression)}`,
    });
    const worst = Object.entries(championHoldout.perClass)
      .filter(([c, s]) => s.count >= config.minClassExamples && holdout.perClass[c])
      .map(([c, s]) => ({ c, drop: s.accuracy - holdout.perClass[c].accuracy }))
      .sort((a, b) => b.drop - a.drop);
    const failing = worst.filter((w) => w.drop > config.maxClassRegression);
    checks.push({
      name: "no-class-regression",
      passed: failing.length === 0,
      value: worst[0]?.drop ?? 0,
      threshold: config.maxClassRegression,
      detail: worst.length
        ? `largest per-class drop ${pct(worst[0].drop)} (class ${worst[0].c}), allowed ≤ ${pct(config.maxClassRegression)}${failing.length ? `; over budget: ${failing.map((f) => `class ${f.c} −${pct(f.drop)}`).join(", ")}` : ""}`
        : "no class with enough examples to compare",
    });
  }

  let golden: Evaluation | undefined;
  if (input.golden) {
    golden = await evaluateArtifact(candidate, input.golden);
    if (input.champion) {
      championGolden = await evaluateArtifact(input.champion, input.golden);
      // Only classes the champion already knows can regress; new classes cannot be judged against it.
      const known = Object.entries(championGolden.perClass).filter(([, s]) => s.accuracy > 0.5).map(([c]) => Number(c));
      const candidateKnown = known.length ? await evaluateArtifact(candidate, input.golden, known) : golden;
      const championKnown = known.length ? await evaluateArtifact(input.champion, input.golden, known) : championGolden;
      const drop = championKnown.accuracy - candidateKnown.accuracy;
      checks.push({
        name: "golden-set",
        passed: drop <= config.maxGoldenRegression,
        value: drop,
        threshold: config.maxGoldenRegression,
        detail: `trusted golden set, classes the champion knows [${known}]: candidate ${pct(candidateKnown.accuracy)} vs champion ${pct(championKnown.accuracy)}, drop ${pct(drop)}, allowed ≤ ${pct(config.maxGoldenRegression)}`,
      });
    } else {
      checks.push({
        name: "golden-set",
        passed: golden.accuracy >= config.minAccuracy,
        value: golden.accuracy,
        threshold: config.minAccuracy,
        detail: `trusted golden set (no champion yet): ${pct(golden.accuracy)}, needs ≥ ${pct(config.minAccuracy)}`,
      });
    }
  }

  // The registry engineer's profiler (warm-up excluded), batch size 1: the latency one request sees.
  const profile = isOnnx(candidate) ? await profileModel(input.candidate, { batchSizes: [1], durationSeconds: 0.05, warmupBatches: 20, minBatches: config.latencyRuns, maxBatches: config.latencyRuns }) : undefined;
  const latencyMs = profile ? { p50: profile.results[0].latencyMs.p50, p99: profile.results[0].latencyMs.p99 } : await latencyOf(candidate, input.holdout, config.latencyRuns);
  checks.push({ name: "latency-p99", passed: latencyMs.p99 <= config.maxP99Ms, value: latencyMs.p99, threshold: config.maxP99Ms, detail: `p99 ${latencyMs.p99.toFixed(3)} ms (p50 ${latencyMs.p50.toFixed(3)} ms), budget ${config.maxP99Ms} ms` });
  const sizeBytes = input.candidate.byteLength;
  checks.push({ name: "size", passed: sizeBytes <= config.maxSizeBytes, value: sizeBytes, threshold: config.maxSizeBytes, detail: `${sizeBytes} bytes, budget ${config.maxSizeBytes}` });

  // onnxruntime measures ONNX models only; an online learner's or a Python model's cost per inference is not priced yet.
  const priced = isOnnx(candidate) ? [input.candidate, ...(isOnnx(input.champion) ? [input.champion!.bytes] : [])] : [];
  const [candidateCost, championCost] = priced.length ? await measureCosts(priced, config.latencyRuns, input.cost ?? defaultCost()) : [];
  if (championCost) {
    if (config.maxCostRatio > 0) {
      const ratio = candidateCost.cpuSeconds / championCost.cpuSeconds;
      const ms = (c: CostPer1000) => `${(c.cpuSeconds * 1000).toFixed(1)} ms`;
      checks.push({
        name: "cost",
        passed: ratio <= config.maxCostRatio,
        value: ratio,
        threshold: config.maxCostRatio,
        detail: `CPU per 1,000 inferences ${ms(candidateCost)} vs champion ${ms(championCost)}: ${ratio.toFixed(2)}×, allowed ≤ ${config.maxCostRatio}× (${candidateCost.cost.toPrecision(3)} ${candidateCost.currency} per 1,000, energy ${candidateCost.joules.toPrecision(3)} J from ${candidateCost.energySource})`,
      });
    }
  }

  const reasons = checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`);
  return {
    passed: reasons.length === 0,
    reasons,
    checks,
    candidate: { holdout, golden, latencyMs, sizeBytes, profile, cost: candidateCost },
    champion: input.champion ? { version: input.champion.version, holdout: championHoldout, golden: championGolden, cost: championCost } : undefined,
    createdAt: new Date().toISOString(),
  };
}
