/**
 * pipelines/fashion-mnist-sklearn.json end to end, on real sklearn: the bootstrapped
 * SGDClassifier serves, the stream brings classes 5-9 it never saw, accuracy falls, trainer.sklearn
 * trains a candidate by partial_fit and the gate's canary promotes it, all within the run. It
 * needs exec (the models are pickles), so test/examples.test.ts leaves its run to this file.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { Runtime } from "../../runtime/runtime";
import { createServices } from "../../runtime/services";
import type { ModelRegistry } from "../../sdk/registry";
import { pythonWithSklearn } from "../agent/python-fixtures";

const dir = mkdtempSync(path.join(tmpdir(), "evoflow-sklearn-example-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pipelines/fashion-mnist-sklearn.json", () => {
  it("promotes an sklearn candidate after the stream brings new classes, through the canary", async () => {
    const pipeline = JSON.parse(readFileSync("pipelines/fashion-mnist-sklearn.json", "utf8"));
    const services = await createServices({ dataDir: dir, allowExec: true, python: pythonWithSklearn() });
    const runtime = new Runtime({ dataDir: dir, services, grants: ["exec", "fs-write"] });
    const registry = services.registry as ModelRegistry;
    const history = new HistoryStore(historyRoot(dir));
    try {
      const started = Date.now();
      const running = await runtime.deploy(pipeline);
      expect((await registry.get("fmnist-sk", "champion"))!.artifact.format).toBe("sklearn");
      let promoted;
      while (!(promoted = (await history.list(pipeline.name)).find((e) => e.decision === "promoted"))) {
        if (Date.now() - started > 60_000) {
          const decisions = (await history.list(pipeline.name)).map((e) => ({ version: e.version, decision: e.decision, reasons: e.validation?.reasons, reason: e.reason, error: e.error }));
          expect.fail(`no promotion within 60 s: ${JSON.stringify({ decisions, nodes: running.status().nodes })}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      const champion = (await registry.get("fmnist-sk", "champion"))!;
      expect(champion.version).toBe(promoted.version);
      expect(champion.artifact.format).toBe("sklearn");
      expect(champion.lineage).toMatchObject({ baseVersion: 1, trainer: { type: "trainer.sklearn", estimator: "SGDClassifier" } });
      expect(promoted.rollout).toMatchObject({ mode: "canary", state: "promoted" });
      console.log(`promoted ${champion.name}@${champion.version} after ${((Date.now() - started) / 1000).toFixed(1)} s: holdout ${promoted.metrics?.holdoutAccuracy}`);
      expect(running.deadLetters.toArray()).toEqual([]);
    } finally {
      await runtime.close();
    }
  }, 120_000);
});
