/**
 * trainer.sklearn in the CL loop, on real sklearn and real Fashion-MNIST: the champion is an
 * SGDClassifier on plain images; the stream turns to inverted images and a stateful candidate
 * (partial_fit on a copy of the champion) must pass the gate — judged through the agent's Python
 * workers as it will serve — and answer requests; a candidate trained on shuffled labels must be
 * rejected by the trusted golden set and never answer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessAgent } from "../../gpu-agent/in-process";
import { loadFashionMnist, shiftImages, subset, type LabelledSet } from "../../nodes/continual-learning/fashion-mnist";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { sklearnTrainerPool, sklearnTrainSchema, trainSklearn } from "../../nodes/continual-learning/sklearn-train";
import { writeSnapshot } from "../../nodes/continual-learning/snapshot";
import { createPythonWorkers } from "../../python/pool";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { classify as classifyImages, decisionFor as waitForDecision, feed as feedExamples } from "./cl-client";
import { tensor } from "../../sdk/ports";
import { seededRandom } from "../../sdk/random";
import { pythonWithSklearn } from "../agent/python-fixtures";

const MODEL = "fsk";
const SGD = { estimator: "SGDClassifier", params: { loss: "log_loss", alpha: 0.0001, random_state: 0 } };
const python = pythonWithSklearn();
let dir: string;
let runtime: Runtime;
let registry: FsModelRegistry;
const served = new Map<number, number>();

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

const feed = (set: LabelledSet) => feedExamples(runtime, "fsk-cl", "labels", set);
const classify = (set: LabelledSet, count: number) => classifyImages(runtime, "fsk-serve", "classify", set, count, served);
const decisionFor = (version: number) => waitForDecision(registry, dir, "fsk-cl", MODEL, version);

const train = loadFashionMnist("train");
const test = loadFashionMnist("test");
const invertedTest = shiftImages(subset(test, range(0, 1500)), "invert");

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-cl-sklearn-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
  const workers = createPythonWorkers({ interpreter: python });
  // The first champion: an SGDClassifier trained on 3,000 plain images by the trainer's own code.
  const pool = sklearnTrainerPool(workers, { pipeline: "test", node: "bootstrap", niceness: 0, timeoutMs: 60_000 });
  await pool.start();
  const first = await trainSklearn(pool, { data: subset(train, range(0, 3000)), config: sklearnTrainSchema.parse({ ...SGD, epochs: 3 }) });
  await pool.close();
  const v1 = await registry.register({ name: MODEL, artifact: first.model, format: "sklearn", signature: first.signature, allowExec: true, labels: { classes: first.classes.join(",") } });
  await registry.promote(MODEL, v1.version, "initial");
  runtime = new Runtime({
    dataDir: dir,
    services: { registry, models: createInProcessAgent({ dataDir: dir, registry, allowExec: true, python }), python: workers },
    grants: ["exec", "fs-write"],
  });
  // The trusted golden set is labelled inverted images: the domain the service now serves.
  const pipelineDir = path.join(dir, "fsk-cl");
  const golden = await writeSnapshot(path.join(pipelineDir, "golden"), subset(invertedTest, range(500, 1000)), { stream: "fashion-mnist test[0,1500) inverted" });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "fsk-cl",
    nodes: [
      { id: "labels", type: "io.http", config: { name: "labels" } },
      { id: "trigger", type: "io.http", config: { name: "trigger" } },
      { id: "trainer", type: "trainer.sklearn", config: { model: MODEL, ...SGD, mode: "stateful", epochs: 3, minSamples: 100 } },
      { id: "gate", type: "validator.gate", config: { golden: path.relative(pipelineDir, golden.dir), minAccuracy: 0.6, maxRegression: 0.05, maxClassRegression: 0.3, maxGoldenRegression: 0.05, maxP99Ms: 1000, latencyRuns: 50 } },
      { id: "decisions", type: "io.sink", config: { kind: "discard" } },
    ],
    edges: [
      { from: "labels.out", to: "trainer.data", mode: "async" },
      { from: "labels.out", to: "gate.holdout", mode: "async" },
      { from: "trigger.out", to: "trainer.trigger", mode: "async" },
      { from: "trainer.candidate", to: "gate.candidate", mode: "async" },
      { from: "gate.decision", to: "decisions.in", mode: "async" },
    ],
  });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "fsk-serve",
    nodes: [
      { id: "in", type: "io.http", config: { name: "classify" } },
      { id: "model", type: "model.onnx", config: { model: `${MODEL}@champion`, output: "probabilities", maxBatchSize: 1 } },
    ],
    edges: [{ from: "in.out", to: "model.in", mode: "sync" }],
  });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await registry?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("trainer.sklearn in the CL loop", () => {
  it("after the stream turns to inverted images, promotes a partial_fit candidate judged through the agent, and serving hot-swaps to it", async () => {
    await classify(invertedTest, 20);
    expect([...served.keys()]).toEqual([1]);
    await feed(shiftImages(subset(train, range(10_000, 2500)), "invert"));
    await runtime.get("fsk-cl")!.entrypoints.get("trigger")!.invoke({ kind: "trigger", reason: "test: 2,500 inverted images" });
    const decision = await decisionFor(2);
    const v2 = (await registry.get(MODEL, 2))!;
    expect(decision, JSON.stringify(v2.validation?.reasons)).toBe("champion");
    expect(v2.artifact.format).toBe("sklearn");
    expect(v2.lineage).toMatchObject({ baseVersion: 1, trainer: { type: "trainer.sklearn", estimator: "SGDClassifier", mode: "stateful" } });
    expect(v2.labels).toMatchObject({ trainer: "trainer.sklearn", estimator: "SGDClassifier" });
    expect(v2.metrics.trainingCpuSeconds).toBeGreaterThan(0);
    const checks = Object.fromEntries(Object.entries(v2.validation!.checks!).map(([k, c]) => [k, (c as { value: number }).value]));
    // The champion knew plain images only: on inverted ones the candidate is far better (holdout and golden).
    expect(checks["no-regression"]).toBeLessThan(-0.2);
    expect(checks["golden-set"]).toBeLessThan(-0.2);
    expect(checks["holdout-accuracy"]).toBeGreaterThan(0.6);
    expect(Object.keys(v2.validation!.checks!)).toEqual(["holdout-accuracy", "no-regression", "no-class-regression", "golden-set", "latency-p99", "size"]);
    await classify(invertedTest, 20);
    expect(served.get(2)).toBe(20);
  }, 120_000);

  it("rejects a candidate trained on shuffled labels, which never answers a request", async () => {
    const poisoned = shiftImages(subset(train, range(20_000, 2500)), "invert");
    const random = seededRandom(3);
    for (let i = poisoned.count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [poisoned.y[i], poisoned.y[j]] = [poisoned.y[j], poisoned.y[i]];
    }
    await feed(poisoned);
    await runtime.get("fsk-cl")!.entrypoints.get("trigger")!.invoke({ kind: "trigger", reason: "test: poisoned batch" });
    expect(await decisionFor(3)).toBe("rejected");
    await classify(invertedTest, 20);
    const v3 = (await registry.get(MODEL, 3))!;
    expect(v3.validation!.reasons.some((r) => r.startsWith("golden-set"))).toBe(true);
    expect(served.get(3)).toBeUndefined();
    expect((await registry.get(MODEL, "champion"))!.version).toBe(2);
    const entries = await new HistoryStore(historyRoot(dir)).list("fsk-cl");
    expect(entries.map((e) => [e.version, e.decision])).toEqual([[2, "promoted"], [3, "rejected"]]);
  }, 120_000);
});

describe("sklearn training in a Python worker", () => {
  const pool = sklearnTrainerPool(createPythonWorkers({ interpreter: python }), { pipeline: "test", node: "modes", niceness: 0, timeoutMs: 60_000 });
  const data = subset(train, range(0, 600));
  afterAll(() => pool.close());

  it("stateless fits a new estimator; stateful MLPClassifier starts with every class declared; a champion of another estimator is refused", async () => {
    await pool.start();
    const fitted = await trainSklearn(pool, { data, config: sklearnTrainSchema.parse({ ...SGD, mode: "stateless" }) });
    expect(fitted).toMatchObject({ warmStart: false, samplesSeen: 600, classes: [...new Set(data.y)].sort((a, b) => a - b) });
    expect(fitted.trainAccuracy).toBeGreaterThan(0.7);
    const mlp = { estimator: "MLPClassifier", params: { hidden_layer_sizes: [16], random_state: 0 }, epochs: 2 };
    const net = await trainSklearn(pool, { data, config: sklearnTrainSchema.parse(mlp) });
    expect(net).toMatchObject({ warmStart: false, samplesSeen: 1200, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    expect(net.signature.outputs).toEqual([
      { name: "label", dtype: "int64", shape: [-1], kind: "tensor" },
      { name: "probabilities", dtype: "float64", shape: [-1, 10], kind: "tensor" },
    ]);
    const warm = await trainSklearn(pool, { data, base: net.model, config: sklearnTrainSchema.parse(mlp) });
    expect(warm.warmStart).toBe(true);
    await expect(trainSklearn(pool, { data, base: fitted.model, config: sklearnTrainSchema.parse(mlp) })).rejects.toThrow(/the champion is a SGDClassifier, not a MLPClassifier/);
  }, 60_000);

  it("names what is wrong: not a classifier, no partial_fit for stateful, a label outside `classes`", async () => {
    await expect(trainSklearn(pool, { data, config: sklearnTrainSchema.parse({ estimator: "StandardScaler" }) })).rejects.toThrow(/'StandardScaler' is not a classifier/);
    await expect(trainSklearn(pool, { data, config: sklearnTrainSchema.parse({ estimator: "RandomForestClassifier", mode: "stateful" }) })).rejects.toThrow(/RandomForestClassifier has no partial_fit: use mode "stateless"/);
    await expect(trainSklearn(pool, { data, config: sklearnTrainSchema.parse({ ...SGD, classes: [0, 1, 2] }) })).rejects.toThrow(/labels \[3, 4, .*\] are not among the model's classes \[0, 1, 2\]/);
  }, 60_000);
});
