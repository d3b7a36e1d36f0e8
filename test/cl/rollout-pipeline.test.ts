/**
 * Shadow and canary rollouts in a running pipeline: validator.gate starts the rollout on the
 * `cl.rollouts` service and model.onnx (following the champion) asks it which version answers each
 * request, under continuous load from concurrent clients, with labels arriving late on the gate's
 * `holdout` port keyed by the requests' trace ids. Real ONNX models (test/fixtures/mlp.ts) on
 * onnxruntime-node through the in-process agent; a real fs registry.
 *
 * The task: inputs are random vectors, the true class is what a teacher MLP answers. The first
 * champion is the teacher with slightly noisy weights; a good candidate is the teacher itself; a bad one
 * is an unrelated MLP. The gate's offline checks are left open so the rollout is what judges.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessAgent } from "../../gpu-agent/in-process";
import { HistoryStore, historyRoot, type HistoryEntry } from "../../nodes/continual-learning/history";
import { RolloutRouter, type LiveRollout, type Rollout, type RolloutConfig, type RolloutResult } from "../../nodes/continual-learning/rollout";
import { tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import type { RunningPipeline } from "../../runtime/engine/engine";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";
import { CLASSES, FEATURES, inputs, noisyTeacher, POOL, teacher, truth } from "./live-task";

const MODEL = "rollout-mlp";
const CLIENTS = 4;
/** Labels come this many answers after their request. */
const LABEL_DELAY = 8;

let dir: string;
let registry: FsModelRegistry;
let runtime: Runtime;
let running: RunningPipeline;
const router = new RolloutRouter();

const pipeline = (rollout: Partial<RolloutConfig>) => ({
  apiVersion: "evoflow/v1",
  name: "rollout-cl",
  // Room for every message of both rollouts: the test reads the traces of answers given minutes apart on a slow machine.
  settings: { traceCapacity: 200_000, traceBytes: 64 * 1024 * 1024 },
  nodes: [
    { id: "classify", type: "io.http", config: { name: "classify" } },
    { id: "model", type: "model.onnx", config: { model: `${MODEL}@champion`, maxBatchSize: 1 } },
    { id: "labels", type: "io.http", config: { name: "labels" } },
    { id: "candidates", type: "io.http", config: { name: "candidates" } },
    // Offline checks left open (and latency budgets wide: speed is for bench/), so the rollout decides.
    { id: "gate", type: "validator.gate", config: { minAccuracy: 0, maxRegression: 1, maxClassRegression: 1, maxGoldenRegression: 1, maxP99Ms: 10_000, latencyRuns: 10, rollout: { maxP99Ms: 10_000, ...rollout } } },
    { id: "decisions", type: "io.sink", config: { kind: "discard" } },
  ],
  edges: [
    { from: "classify.out", to: "model.in", mode: "sync" },
    { from: "labels.out", to: "gate.holdout", mode: "async" },
    { from: "candidates.out", to: "gate.candidate", mode: "async" },
    { from: "gate.decision", to: "decisions.in", mode: "async" },
  ],
});

interface Answer {
  version: number;
  traceId: string;
  /** The rollout's state when the request was sent. */
  sentWhile: Rollout["state"] | "none";
}

/**
 * Concurrent clients sending requests until stopped; each answer's label follows LABEL_DELAY
 * answers later. Every failed request is counted.
 */
function load(rollout: () => LiveRollout | undefined) {
  const answers: Answer[] = [];
  let failures = 0;
  let stopped = false;
  let next = 0;
  const pendingLabels: { traceId: string; i: number }[] = [];
  const classify = running.entrypoints.get("classify")!;
  const labels = running.entrypoints.get("labels")!;
  const client = async () => {
    while (!stopped) {
      const i = next++ % POOL;
      const sentWhile = rollout()?.state ?? "none";
      try {
        const [reply] = await classify.invoke(tensor("float32", [1, FEATURES], inputs.slice(i * FEATURES, (i + 1) * FEATURES)));
        answers.push({ version: Number(reply.source.model!.version), traceId: reply.traceId, sentWhile });
        pendingLabels.push({ traceId: reply.traceId, i });
      } catch {
        failures++;
      }
      while (pendingLabels.length > LABEL_DELAY) {
        const { traceId, i: k } = pendingLabels.shift()!;
        await labels.invoke({ x: tensor("float32", [FEATURES], inputs.slice(k * FEATURES, (k + 1) * FEATURES)), y: truth[k], requestId: traceId });
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);
  return {
    answers,
    get failures() {
      return failures;
    },
    async stop() {
      stopped = true;
      await Promise.all(clients);
    },
  };
}

async function register(artifact: Uint8Array): Promise<number> {
  return (await registry.register({ name: MODEL, artifact })).version;
}

/** Sends a candidate to the gate under load; returns the final history entry, the rollout and every answer, once `after` more requests were answered after the decision. */
async function rollOut(version: number, after = 400) {
  let rollout: LiveRollout | undefined;
  const traffic = load(() => (rollout ??= router.get(MODEL)));
  await running.entrypoints.get("candidates")!.invoke({ kind: "candidate", name: MODEL, version, baseVersion: 1, trigger: { kind: "test" }, scenario: "NI", newClasses: [], snapshot: { id: "snap-t", count: 0, classes: {}, source: {} }, strategy: { trainer: "test" }, trainingMs: 0, samplesSeen: 0, sizeBytes: 0 });
  const history = new HistoryStore(historyRoot(dir));
  let entry: HistoryEntry | undefined;
  for (;;) {
    rollout ??= router.get(MODEL);
    entry = (await history.list("rollout-cl")).find((e) => e.version === version);
    if (entry && entry.decision !== "pending") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const decidedAt = traffic.answers.length;
  while (traffic.answers.length < decidedAt + after) await new Promise((r) => setTimeout(r, 20));
  await traffic.stop();
  return { entry, rollout: rollout! as Rollout, result: entry.rollout as RolloutResult, answers: traffic.answers, failures: traffic.failures };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-rollout-pipeline-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
  runtime = new Runtime({ dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }), "cl.rollouts": router } });
  // About 81% accurate: far enough above the bad candidate (20%) that 20 labels tell them apart
  // every time (a 49% champion let a bad canary pass its first step by chance, 1 run in 3).
  const first = await register(noisyTeacher(0.05, 500));
  await registry.promote(MODEL, first);
}, 30_000);

afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function deploy(rollout: Partial<RolloutConfig>): Promise<void> {
  running = await runtime.deploy(pipeline(rollout));
  // The gate needs holdout examples before it judges anything.
  const labels = running.entrypoints.get("labels")!;
  for (let i = 0; i < 200; i++) await labels.invoke({ x: tensor("float32", [FEATURES], inputs.slice(i * FEATURES, (i + 1) * FEATURES)), y: truth[i] });
  await running.idle();
}

describe("rollouts in a running pipeline", () => {
  const canary = { mode: "canary" as const, steps: [0.05, 0.25, 0.5, 1], requestsPerStep: 40, labelledPerStep: 20, maxAccuracyDrop: 0.1 };

  it("canary of a bad candidate rolls back automatically; it never answers after the rollback and ends rejected", async () => {
    await deploy(canary);
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const bad = await register(makeMlp({ sizes: [FEATURES, 32, CLASSES], seed: 12 }).bytes);
    const { entry, result, answers, failures } = await rollOut(bad);

    expect(result.state).toBe("rolled-back");
    expect(result.steps).toHaveLength(1);
    expect(result.steps[0]).toMatchObject({ weight: 0.05, passed: false });
    expect(result.reason).toMatch(/accuracy .* on labelled requests/);
    expect(entry.decision).toBe("rejected");
    expect(entry.reason).toMatch(/canary rollout rolled back: step 1: accuracy/);
    const record = (await registry.get(MODEL, bad))!;
    expect(record.status).toBe("rejected");
    expect(record.history.at(-1)!.reason).toMatch(/rolled back/);
    expect((await registry.get(MODEL, "champion"))!.version).toBe(champion);

    // It answered its canary share while the rollout ran, and nothing sent after the rollback.
    expect(answers.filter((a) => a.sentWhile === "running" && a.version === bad).length).toBeGreaterThan(0);
    const afterRollback = answers.filter((a) => a.sentWhile !== "running" && a.sentWhile !== "none");
    expect(afterRollback.length).toBeGreaterThan(300);
    expect(afterRollback.filter((a) => a.version === bad)).toEqual([]);
    expect(answers.slice(-300).every((a) => a.version === champion)).toBe(true);
    expect(result.answered[String(bad)]).toBeGreaterThan(0);
    expect(failures).toBe(0);
    expect(running.deadLetterCount()).toBe(0);
  }, 60_000);

  it("canary of a good candidate climbs to 100% and becomes champion with zero failed requests under load", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const good = await register(teacher.bytes);
    const { entry, result, answers, failures } = await rollOut(good);

    expect(result.state, result.reason).toBe("promoted");
    expect(result.steps.map((s) => [s.weight, s.passed])).toEqual([[0.05, true], [0.25, true], [0.5, true], [1, true]]);
    expect(result.steps.every((s) => s.candidate.requests >= 40 && s.candidate.labelled >= 20)).toBe(true);
    expect(result.steps[0].candidate.accuracy).toBeGreaterThan(result.steps[0].champion.accuracy!);
    expect(entry.decision).toBe("promoted");
    expect((await registry.get(MODEL, "champion"))!.version).toBe(good);
    expect(failures).toBe(0);
    expect(running.deadLetterCount()).toBe(0);

    // Both versions answered during the canary, each tagged in provenance with the version that answered.
    const during = answers.filter((a) => a.sentWhile === "running");
    const byCandidate = during.filter((a) => a.version === good);
    expect(byCandidate.length).toBeGreaterThan(0);
    expect(during.some((a) => a.version === champion)).toBe(true);
    for (const a of [byCandidate.at(-1)!, during.findLast((d) => d.version === champion)!]) {
      const modelMessage = running.traces.messages(a.traceId).find((m) => m.source.node === "model")!;
      expect(modelMessage.source.model).toEqual({ name: MODEL, version: a.version });
    }
    expect(result.answered[String(good)]).toBeGreaterThan(0);
    expect(result.answered[String(champion)]).toBeGreaterThan(0);
    // Once promoted, every request goes to it.
    const afterPromotion = answers.filter((a) => a.sentWhile === "promoted");
    expect(afterPromotion.length).toBeGreaterThan(300);
    expect(afterPromotion.every((a) => a.version === good)).toBe(true);
  }, 60_000);

  it("shadow serves only champion answers while the candidate sees mirrored traffic; a candidate that disagrees is rejected", async () => {
    await deploy({ mode: "shadow", requestsPerStep: 150, labelledPerStep: 100, maxAccuracyDrop: 0.1, minAgreement: 0.9 });
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const shadowed = await register(noisyTeacher(0.2, 700));
    const { entry, result, answers, failures } = await rollOut(shadowed);

    expect(answers.filter((a) => a.version === shadowed)).toEqual([]);
    expect(result.mirrored).toBeGreaterThanOrEqual(150);
    expect(result.answered).toEqual({ [String(champion)]: expect.any(Number) });
    expect(result.steps).toHaveLength(1);
    expect(result.steps[0].candidate.requests).toBeGreaterThanOrEqual(150);
    expect(result.steps[0].agreement).toBeLessThan(0.9);
    expect(result.state).toBe("rolled-back");
    expect(entry.decision).toBe("rejected");
    expect((await registry.get(MODEL, shadowed))!.status).toBe("rejected");
    expect((await registry.get(MODEL, "champion"))!.version).toBe(champion);
    expect(failures).toBe(0);
  }, 60_000);

  it("shadow promotes a candidate that agrees with the champion and is as accurate on labelled requests", async () => {
    const champion = (await registry.get(MODEL, "champion"))!.version;
    const twin = await register(makeMlp({ sizes: [FEATURES, 32, CLASSES], seed: 11, matmul: true }).bytes);
    const { result, answers, failures } = await rollOut(twin);

    expect(answers.filter((a) => a.sentWhile === "running" && a.version === twin)).toEqual([]);
    expect(result.state, result.reason).toBe("promoted");
    // The same function as a different graph (MatMul + Add instead of Gemm): float rounding may split a near-tie.
    expect(result.steps[0].passed).toBe(true);
    expect(result.steps[0].agreement).toBeGreaterThan(0.98);
    expect(result.steps[0].candidate.accuracy).toBeGreaterThan(0.98);
    expect((await registry.get(MODEL, "champion"))!.version).toBe(twin);
    expect(answers.slice(-300).every((a) => a.version === twin)).toBe(true);
    expect(champion).not.toBe(twin);
    expect(failures).toBe(0);
  }, 60_000);

  it("stopping the pipeline during a rollout rolls it back rather than holding the stop", async () => {
    await deploy(canary);
    const candidate = await register(teacher.bytes);
    await running.entrypoints.get("candidates")!.invoke({ kind: "candidate", name: MODEL, version: candidate, trigger: { kind: "test" }, scenario: "NI", newClasses: [], snapshot: { id: "snap-s", count: 0, classes: {}, source: {} }, strategy: { trainer: "test" }, trainingMs: 0, samplesSeen: 0, sizeBytes: 0 });
    while (!router.get(MODEL)) await new Promise((r) => setTimeout(r, 20));
    const rollout = router.get(MODEL)!;
    // No traffic: the step can never be judged. Stopping must not wait for it.
    await runtime.undeploy("rollout-cl");
    expect(rollout.state).toBe("rolled-back");
    expect((await rollout.done).reason).toMatch(/pipeline stopped/);
    expect((await registry.get(MODEL, candidate))!.status).toBe("rejected");
  }, 30_000);
});
