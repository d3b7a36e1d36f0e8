/**
 * The gate's holdout is a seeded split keyed by each example's features, not by message ids:
 * the same stream gives the same holdout (and the same validation figures) on every run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isHoldout } from "../../nodes/continual-learning/examples";
import { loadFashionMnist } from "../../nodes/continual-learning/fashion-mnist";
import type { GateReport } from "../../nodes/continual-learning/gate";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const stream = loadFashionMnist("test", undefined, 1500);
const row = (i: number) => stream.x.slice(i * 784, (i + 1) * 784);

describe("holdout split", () => {
  it("depends on the example and the seed only, and holds out about the configured share", () => {
    const split = (seed: number) => Array.from({ length: stream.count }, (_, i) => isHoldout(row(i), 0.2, seed));
    const a = split(1);
    expect(split(1)).toEqual(a);
    expect(Array.from({ length: stream.count }, (_, i) => isHoldout(Float32Array.from(row(i)), 0.2, 1))).toEqual(a);
    const share = a.filter(Boolean).length / a.length;
    expect(share).toBeGreaterThan(0.17);
    expect(share).toBeLessThan(0.23);
    const other = split(2);
    expect(other).not.toEqual(a);
    expect(other.filter((h, i) => h !== a[i]).length).toBeGreaterThan(100);
    expect(split(3).every((h, i) => h === isHoldout(row(i), 0.2, 3))).toBe(true);
    expect(Array.from({ length: 100 }, (_, i) => isHoldout(row(i), 0, 1)).some(Boolean)).toBe(false);
  });

  it("two runs of a pipeline on the same stream validate on the same holdout", async () => {
    const run = async (): Promise<GateReport> => {
      const dir = mkdtempSync(path.join(tmpdir(), "evoflow-holdout-"));
      dirs.push(dir);
      const registry = new FsModelRegistry(path.join(dir, "registry"));
      await registry.register({ name: "h", artifact: makeMlp({ sizes: [784, 16, 10], seed: 1 }).bytes });
      await registry.promote("h", 1);
      await registry.register({ name: "h", artifact: makeMlp({ sizes: [784, 16, 10], seed: 2 }).bytes });
      const runtime = new Runtime({ dataDir: dir, services: { registry } });
      try {
        const running = await runtime.deploy({
          apiVersion: "evoflow/v1",
          name: "h-cl",
          nodes: [
            { id: "labels", type: "io.http", config: { name: "labels" } },
            { id: "candidates", type: "io.http", config: { name: "candidates" } },
            { id: "gate", type: "validator.gate", config: { holdoutSeed: 5, holdoutPerClass: 1000, minClassExamples: 5, latencyRuns: 10 } },
          ],
          edges: [
            { from: "labels.out", to: "gate.holdout", mode: "async" },
            { from: "candidates.out", to: "gate.candidate", mode: "async" },
          ],
        });
        const labels = running.entrypoints.get("labels")!;
        for (let i = 0; i < stream.count; i++) await labels.invoke({ x: tensor("float32", [784], row(i)), y: stream.y[i] });
        await running.idle();
        await running.entrypoints.get("candidates")!.invoke({ kind: "candidate", name: "h", version: 2, trigger: { kind: "test" }, scenario: "NI", newClasses: [], snapshot: { id: "snap-h", count: 0, classes: {}, source: {} }, strategy: { trainer: "test" }, trainingMs: 0, samplesSeen: 0, sizeBytes: 0 });
        await running.idle();
        const [entry] = await new HistoryStore(historyRoot(dir)).list("h-cl");
        return entry.validation!;
      } finally {
        await runtime.close();
        await registry.close();
      }
    };
    const first = await run();
    const second = await run();
    const expected = Array.from({ length: stream.count }, (_, i) => i).filter((i) => isHoldout(row(i), 0.2, 5));
    expect(first.candidate.holdout!.count).toBe(expected.length);
    // Message ids differ between the two runs; the holdout, and so every figure judged on it, does not.
    expect(second.candidate.holdout).toEqual(first.candidate.holdout);
    expect(second.champion!.holdout).toEqual(first.champion!.holdout);
    // Latency and CPU cost are measured, run to run they differ.
    const judgedOnData = (report: typeof first) => report.checks.filter((c) => c.name !== "latency-p99" && c.name !== "cost").map((c) => [c.name, c.value]);
    expect(judgedOnData(second)).toEqual(judgedOnData(first));
  }, 60_000);
});
