/**
 * The CL demo end to end on a reduced stream: the example pipeline (pipelines/fashion-mnist-cl.json)
 * learns new classes with no human step, promoting through a canary rollout judged on late labels.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import type { RolloutResult } from "../../nodes/continual-learning/rollout";
import type { ModelRegistry } from "../../sdk/registry";
import { Runtime } from "../../runtime/runtime";
import { createServices } from "../../runtime/services";

describe("CL demo pipeline on a reduced stream", () => {
  it("the example pipeline bootstraps, detects the shift, trains, validates and promotes with no human step", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "evoflow-cl-demo-"));
    const pipeline = JSON.parse(readFileSync("pipelines/fashion-mnist-cl.json", "utf8"));
    const node = (id: string) => pipeline.nodes.find((n: { id: string }) => n.id === id);
    // A shorter, faster stream: 600 requests of classes 0–4, then all ten classes, at 300 requests/s (training overlaps serving).
    Object.assign(node("fmnist").config, { rate: 300, phases: [{ count: 600, classes: [0, 1, 2, 3, 4] }, { count: 20_000, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }] });
    node("trigger").config.cooldownMs = 3000;
    const previous = process.env.EVOFLOW_REGISTRY;
    delete process.env.EVOFLOW_REGISTRY;
    const services = await createServices({ dataDir: dir });
    const registry = services.registry as ModelRegistry;
    const runtime = new Runtime({ dataDir: dir, services });
    try {
      const running = await runtime.deploy(pipeline);
      expect((await registry.get("fmnist", "champion"))!.version).toBe(1);
      const history = new HistoryStore(historyRoot(dir));
      let promoted;
      while (!(promoted = (await history.list("fashion-mnist-cl")).find((e) => e.decision === "promoted"))) {
        expect(running.deadLetterCount()).toBe(0);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(["performance", "drift"]).toContain(promoted.trigger.kind);
      expect(promoted.scenario).toMatch(/^(NC|NIC)$/);
      expect(promoted.snapshot!.count).toBeGreaterThanOrEqual(100);
      expect(Object.keys(promoted.snapshot!.classes).map(Number).some((c) => c >= 5)).toBe(true);
      const champion = (await registry.get("fmnist", "champion"))!;
      expect(champion.version).toBeGreaterThan(1);
      expect(champion.lineage.baseVersion).toBeGreaterThanOrEqual(1);
      // The canary climbed every step, each judged on labelled answers, and both versions answered on the way.
      const rollout = promoted.rollout as RolloutResult;
      expect(rollout).toMatchObject({ mode: "canary", state: "promoted", candidate: champion.version });
      expect(rollout.steps.map((s) => [s.weight, s.passed])).toEqual([[0.1, true], [0.25, true], [0.5, true], [1, true]]);
      expect(rollout.steps.every((s) => s.candidate.labelled >= 25)).toBe(true);
      expect(rollout.answered[String(champion.version)]).toBeGreaterThan(0);
      expect(rollout.answered[String(rollout.champion)]).toBeGreaterThan(0);
      expect(running.deadLetterCount()).toBe(0);
    } finally {
      await runtime.close();
      if (previous !== undefined) process.env.EVOFLOW_REGISTRY = previous;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
