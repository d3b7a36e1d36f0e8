/** validator.gate refuses to let a candidate through when it cannot validate it. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { RolloutRouter } from "../../nodes/continual-learning/rollout";
import { tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";

const dir = mkdtempSync(path.join(tmpdir(), "evoflow-cl-gate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("validator.gate", () => {
  it("rejects (and records) a candidate it cannot validate, e.g. before any holdout data arrived", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry"));
    await registry.register({ name: "g", artifact: makeMlp({ sizes: [4, 3], seed: 1 }).bytes });
    await registry.promote("g", 1);
    await registry.register({ name: "g", artifact: makeMlp({ sizes: [4, 3], seed: 2 }).bytes });
    const runtime = new Runtime({ dataDir: dir, services: { registry } });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "g-cl",
      nodes: [
        { id: "candidates", type: "io.http", config: { name: "candidates" } },
        { id: "gate", type: "validator.gate", config: {} },
      ],
      edges: [{ from: "candidates.out", to: "gate.candidate", mode: "async" }],
    });
    await running.entrypoints.get("candidates")!.invoke({ kind: "candidate", name: "g", version: 2, trigger: { kind: "drift" }, scenario: "NI", newClasses: [], snapshot: { id: "snap-x", count: 10, classes: {}, source: {} }, strategy: { trainer: "trainer.tfjs" }, trainingMs: 1, samplesSeen: 10, sizeBytes: 100 });
    await running.idle();
    expect((await registry.get("g", 2))!.status).toBe("rejected");
    expect((await registry.get("g", "champion"))!.version).toBe(1);
    const [entry] = await new HistoryStore(historyRoot(dir)).list("g-cl");
    expect(entry).toMatchObject({ version: 2, decision: "failed", error: expect.stringContaining("no holdout examples yet") });
    expect(running.deadLetterCount()).toBe(1);
    await runtime.close();
    await registry.close();
  });

  it("a candidate judged while its pipeline stops ends its canary rolled back instead of holding the stop", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry-stop"));
    await registry.register({ name: "s", artifact: makeMlp({ sizes: [4, 3], seed: 1 }).bytes });
    await registry.promote("s", 1);
    await registry.register({ name: "s", artifact: makeMlp({ sizes: [4, 3], seed: 2 }).bytes });
    const dataDir = path.join(dir, "stop");
    const runtime = new Runtime({ dataDir, services: { registry, "cl.rollouts": new RolloutRouter() } });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "s-cl",
      nodes: [
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "candidates", type: "io.http", config: { name: "candidates" } },
        { id: "gate", type: "validator.gate", config: { holdoutShare: 0.9, minAccuracy: 0, maxRegression: 1, maxClassRegression: 1, maxP99Ms: 10_000, latencyRuns: 10, rollout: { mode: "canary" } } },
        { id: "decisions", type: "io.sink", config: { kind: "discard" } },
      ],
      edges: [
        { from: "labels.out", to: "gate.holdout", mode: "async" },
        { from: "candidates.out", to: "gate.candidate", mode: "async" },
        { from: "gate.decision", to: "decisions.in", mode: "async" },
      ],
    });
    for (let i = 0; i < 60; i++) await running.entrypoints.get("labels")!.invoke({ x: tensor("float32", [4], Float32Array.of(i, i % 3, 1, -i)), y: i % 3 });
    await running.idle();
    await running.entrypoints.get("candidates")!.invoke({ kind: "candidate", name: "s", version: 2, trigger: { kind: "drift" }, scenario: "NI", newClasses: [], snapshot: { id: "snap-s", count: 10, classes: {}, source: {} }, strategy: { trainer: "trainer.tfjs" }, trainingMs: 1, samplesSeen: 10, sizeBytes: 100 });
    // No request will ever reach the candidate: the stop must still end.
    await runtime.undeploy("s-cl");
    const [entry] = await new HistoryStore(historyRoot(dataDir)).list("s-cl").then((all) => all.filter((e) => e.version === 2 && e.decision !== "pending"));
    expect(entry).toMatchObject({ decision: "rejected", reason: expect.stringMatching(/canary rollout rolled back: the pipeline stopped/) });
    expect((await registry.get("s", "champion"))!.version).toBe(1);
    await runtime.close();
    await registry.close();
  }, 30_000);
});
