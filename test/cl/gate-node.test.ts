/** validator.gate refuses to let a candidate through when it cannot validate it. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
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
});
