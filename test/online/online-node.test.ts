/**
 * model.online in a real pipeline with the fs registry and validator.gate: it learns from labelled
 * messages, answers from its current state, snapshots online-json candidates that the gate judges
 * (promoted, recorded in the history), goes back to the champion when the gate rejects a snapshot
 * (label-flipped data), and follows a rollback made in the registry.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { writeSnapshot } from "../../nodes/continual-learning/snapshot";
import { OnlineLearner } from "../../nodes/model/online/learner";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { tensor, type Tensor } from "../../sdk/ports";
import { seededRandom } from "../../sdk/random";

const dir = mkdtempSync(path.join(tmpdir(), "evoflow-online-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const random = seededRandom(21);
/** Two classes apart on feature 0, two noise features. */
const example = (flip = false) => {
  const y = random() < 0.5 ? 0 : 1;
  return { x: [y * 2 - 1 + (random() - 0.5), random(), random()], y: flip ? 1 - y : y };
};

const pipeline = (golden: string) => ({
  apiVersion: "evoflow/v1",
  name: "online-cl",
  nodes: [
    { id: "labels", type: "io.http", config: { name: "labels" } },
    { id: "predict", type: "io.http", config: { name: "predict" } },
    { id: "learner", type: "model.online", config: { model: "stream", learner: { kind: "logistic-regression", learningRate: 0.1, interceptLearningRate: 0.1 }, features: 3, classes: 2, snapshotEvery: 150 } },
    { id: "gate", type: "validator.gate", config: { golden, maxGoldenRegression: 0.05, minAccuracy: 0.8, maxRegression: 0.05, maxClassRegression: 0.2, minClassExamples: 5, maxP99Ms: 100, latencyRuns: 20 } },
    { id: "decisions", type: "io.sink", config: { kind: "discard" } },
  ],
  edges: [
    { from: "labels.out", to: "learner.learn", mode: "async" },
    { from: "labels.out", to: "gate.holdout", mode: "async" },
    { from: "predict.out", to: "learner.in", mode: "sync" },
    { from: "learner.candidate", to: "gate.candidate", mode: "async" },
    { from: "gate.decision", to: "decisions.in", mode: "async" },
  ],
});

describe("model.online", () => {
  it("learns from labelled messages, snapshots to the registry through the gate, and follows rejections and rollbacks", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry"));
    const runtime = new Runtime({ dataDir: dir, services: { registry } });
    // The trusted golden set (correct labels, never from the stream) is what catches label-flipped training data.
    const rows = Array.from({ length: 200 }, () => example());
    const set = { x: Float32Array.from(rows.flatMap((r) => r.x)), y: Int32Array.from(rows.map((r) => r.y)), count: rows.length, features: 3 };
    const golden = await writeSnapshot(path.join(dir, "online-cl", "golden"), set, { stream: "seeded golden set" });
    const running = await runtime.deploy(pipeline(path.relative(path.join(dir, "online-cl"), golden.dir)));
    const labels = running.entrypoints.get("labels")!;
    const send = async (n: number, flip = false) => {
      for (let i = 0; i < n; i++) {
        const { x, y } = example(flip);
        await labels.invoke({ x, y });
      }
      await running.idle();
    };
    const probe = [0.9, 0.5, 0.5];
    const answer = async () => {
      const [reply] = await running.entrypoints.get("predict")!.invoke(tensor("float32", [3], Float32Array.from(probe)));
      return { p: Array.from((reply.payload as Tensor).data as Float32Array), version: reply.source.model?.version };
    };
    const snapshotAnswer = async (version: number) => Array.from(OnlineLearner.fromSnapshot(await registry.readArtifact("stream", version)).predictProbaOne(Float32Array.from(probe)));

    // Before any label: no class seen, all probabilities 0.
    expect((await answer()).p).toEqual([0, 0]);
    await send(420);
    const versions = await registry.versions("stream");
    expect(versions.length).toBeGreaterThanOrEqual(2);
    expect(versions.every((v) => v.artifact.format === "online-json")).toBe(true);
    expect(versions[0].signature.inputs[0].shape).toEqual([-1, 3]);
    const champion = (await registry.get("stream", "champion"))!;
    expect(champion.validation?.passed).toBe(true);
    expect(champion.metrics.holdoutAccuracy).toBeGreaterThan(0.8);
    const history = await new HistoryStore(historyRoot(dir)).list("online-cl");
    expect(history.filter((e) => e.decision === "promoted").map((e) => e.version)).toContain(champion.version);
    expect(history[0].strategy).toMatchObject({ trainer: "model.online", learner: "logistic-regression" });
    // Serving from the live state: it knows class 1 for a clearly class-1 input.
    const live = await answer();
    expect(live.p[1]).toBeGreaterThan(0.7);

    // Label-flipped data: the next snapshot regresses, the gate rejects it, the learner goes back to the champion.
    // Flipped labels one at a time until the learner's next snapshot, which the gate then judges.
    const before = (await registry.versions("stream")).length;
    while ((await registry.versions("stream")).length === before) await send(1, true);
    const rejected = (await registry.versions("stream")).at(-1)!;
    expect(rejected.status).toBe("rejected");
    expect(rejected.lineage.baseVersion).toBe(champion.version);
    const championAnswer = await snapshotAnswer(champion.version);
    // The registry's rejection event reaches the learner asynchronously: wait for it (bounded).
    const settled = async (expected: number[]) => {
      for (let i = 0; i < 50; i++) {
        const a = await answer();
        if (a.p.every((v, k) => v === expected[k])) return a;
        await new Promise((r) => setTimeout(r, 20));
      }
      return answer();
    };
    const afterReject = await settled(championAnswer);
    expect(afterReject.p).toEqual(championAnswer);
    expect(afterReject.version).toBe(champion.version);

    // A rollback in the registry: the learner continues from that version.
    await registry.promote("stream", 1, "rollback by the operator");
    const afterRollback = await settled(await snapshotAnswer(1));
    expect(afterRollback.version).toBe(1);
    expect(afterRollback.p).toEqual(await snapshotAnswer(1));

    // A bad label is a dead letter with its reason, and the learner keeps serving.
    await labels.invoke({ x: [1, 2, 3], y: 5 });
    await running.idle();
    expect(running.deadLetterCount()).toBe(1);
    expect((await answer()).version).toBe(1);
    await runtime.close();
    await registry.close();
  });

  it("the registry takes online-json snapshots only when they say what they are", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry-formats"));
    const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
    await expect(registry.register({ name: "o", format: "online-json", artifact: bytes("{not json") })).rejects.toThrow(/must be JSON/);
    await expect(registry.register({ name: "o", format: "online-json", artifact: bytes({ format: "online-json", features: 0, classes: 2 }) })).rejects.toThrow(/needs \{format: "online-json", features, classes\}/);
    const learner = new OnlineLearner({ kind: "logistic-regression", learningRate: 0.01, interceptLearningRate: 0.01, l2: 0, clipGradient: 1e12 }, 4, 3);
    const v = await registry.register({ name: "o", format: "online-json", artifact: learner.snapshot() });
    expect(v.signature.outputs[0]).toMatchObject({ name: "probabilities", dtype: "float32", shape: [-1, 3] });
    await registry.close();
  });
});
