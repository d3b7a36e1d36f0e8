/**
 * The validator gate: a candidate becomes champion only if every configured check passes.
 * Models are run as their real ONNX files by onnxruntime-node, exactly as they would serve.
 *
 * Checks: accuracy on a holdout of every class seen so far ≥ threshold; no regression against
 * the champion beyond ε, overall and per class; p99 latency and file size within budget; a
 * trusted golden set (data that never came from the stream) does not regress — the guard
 * against poisoned or adversarial training data, which a holdout drawn from the same
 * (poisoned) stream cannot catch.
 */
import { ort } from "../../onnx/ort";
import { z } from "zod";
import { profileModel } from "../../onnx/profile";
import type { ModelProfile } from "../../sdk/registry";
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
});
export type GateConfig = z.output<typeof gateConfigSchema>;

/** Argmax predictions of an ONNX classifier over a labelled set, scored overall and per class. */
export async function evaluateOnnx(bytes: Uint8Array, set: LabelledSet, classes?: readonly number[]): Promise<Evaluation> {
  // A session that lives for one evaluation: no memory arena (kept at its peak until release), no memory pattern, no thread pool.
  const session = await ort.InferenceSession.create(bytes, { enableCpuMemArena: false, enableMemPattern: false, intraOpNumThreads: 1 });
  try {
    const wanted = classes ? new Set(classes) : undefined;
    const per = new Map<number, { right: number; count: number }>();
    let right = 0;
    let count = 0;
    const chunk = 1000;
    for (let from = 0; from < set.count; from += chunk) {
      const n = Math.min(chunk, set.count - from);
      const x = set.x.subarray(from * set.features, (from + n) * set.features);
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x, [n, set.features]) });
      const scores = out[session.outputNames[0]].data as Float32Array;
      const width = scores.length / n;
      for (let i = 0; i < n; i++) {
        const label = set.y[from + i];
        if (wanted && !wanted.has(label)) continue;
        let best = 0;
        for (let j = 1; j < width; j++) if (scores[i * width + j] > scores[i * width + best]) best = j;
        const slot = per.get(label) ?? { right: 0, count: 0 };
        slot.count++;
        count++;
        if (best === label) (slot.right++, right++);
        per.set(label, slot);
      }
    }
    const perClass = Object.fromEntries([...per.entries()].sort((a, b) => a[0] - b[0]).map(([c, s]) => [String(c), { accuracy: s.right / s.count, count: s.count }]));
    return { accuracy: count ? right / count : NaN, count, perClass };
  } finally {
    await session.release();
  }
}

export interface GateInput {
  candidate: Uint8Array;
  champion?: { bytes: Uint8Array; version?: number };
  /** Holdout examples of every class seen so far (never trained on). */
  holdout: LabelledSet;
  /** The trusted golden set, if configured. */
  golden?: LabelledSet;
  config: GateConfig;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export async function runGate(input: GateInput): Promise<GateReport> {
  const { config } = input;
  const checks: GateCheck[] = [];
  const holdout = await evaluateOnnx(input.candidate, input.holdout);
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
    championHoldout = await evaluateOnnx(input.champion.bytes, input.holdout);
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
    golden = await evaluateOnnx(input.candidate, input.golden);
    if (input.champion) {
      championGolden = await evaluateOnnx(input.champion.bytes, input.golden);
      // Only classes the champion already knows can regress; new classes cannot be judged against it.
      const known = Object.entries(championGolden.perClass).filter(([, s]) => s.accuracy > 0.5).map(([c]) => Number(c));
      const candidateKnown = known.length ? await evaluateOnnx(input.candidate, input.golden, known) : golden;
      const championKnown = known.length ? await evaluateOnnx(input.champion.bytes, input.golden, known) : championGolden;
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
  const profile = await profileModel(input.candidate, { batchSizes: [1], durationSeconds: 0.05, warmupBatches: 20, minBatches: config.latencyRuns, maxBatches: config.latencyRuns });
  const latencyMs = { p50: profile.results[0].latencyMs.p50, p99: profile.results[0].latencyMs.p99 };
  checks.push({ name: "latency-p99", passed: latencyMs.p99 <= config.maxP99Ms, value: latencyMs.p99, threshold: config.maxP99Ms, detail: `p99 ${latencyMs.p99.toFixed(3)} ms (p50 ${latencyMs.p50.toFixed(3)} ms), budget ${config.maxP99Ms} ms` });
  const sizeBytes = input.candidate.byteLength;
  checks.push({ name: "size", passed: sizeBytes <= config.maxSizeBytes, value: sizeBytes, threshold: config.maxSizeBytes, detail: `${sizeBytes} bytes, budget ${config.maxSizeBytes}` });

  const reasons = checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`);
  return {
    passed: reasons.length === 0,
    reasons,
    checks,
    candidate: { holdout, golden, latencyMs, sizeBytes, profile },
    champion: input.champion ? { version: input.champion.version, holdout: championHoldout, golden: championGolden } : undefined,
    createdAt: new Date().toISOString(),
  };
}
