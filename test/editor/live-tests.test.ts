/**
 * The model card page shows a version's live tests: the A/B test that promoted it (a real one: the
 * gate in mode "ab" over real ONNX models, test/cl/ab-pipeline.ts) and the bandit router that
 * routed traffic to it (a real model.bandit pipeline), in Debian's Chromium.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessAgent } from "../../gpu-agent/in-process";
import { RolloutRouter } from "../../nodes/continual-learning/rollout";
import { tensor } from "../../sdk";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { abTest } from "../cl/ab-pipeline";
import { FEATURES, noisyTeacher, row, teacher, truth, unrelated } from "../cl/live-task";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "./harness";

const MODEL = "live-card";
let dir: string;
let registry: FsModelRegistry;
let served: Served;
let browser: Browser;
const router = new RolloutRouter();

beforeAll(async () => {
  await ensureEditorBuilt();
  dir = mkdtempSync(path.join(tmpdir(), "evoflow-live-card-"));
  registry = new FsModelRegistry(path.join(dir, "registry"));
  served = await serve({ runtime: { dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }), "cl.rollouts": router } } });
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("model card: live tests", () => {
  it("shows the A/B test's statistics and the bandit's traffic shares", async () => {
    const champion = (await registry.register({ name: MODEL, artifact: noisyTeacher(0.05, 500) })).version;
    await registry.promote(MODEL, champion);
    const { version, result } = await abTest({ runtime: served.runtime, registry, router, dir, model: MODEL }, { key: "payload.user", minSamples: 100, tau: 0.1 }, teacher.bytes);
    expect(result.state, result.reason).toBe("promoted");
    const worse = (await registry.register({ name: MODEL, artifact: unrelated() })).version;

    const running = await served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "live-bandit",
      nodes: [
        { id: "classify", type: "io.http", config: { name: "classify" } },
        { id: "router", type: "model.bandit", config: { model: MODEL, versions: [champion, version, worse], reportEvery: 100 } },
        { id: "labels", type: "io.http", config: { name: "labels" } },
      ],
      edges: [
        { from: "classify.out", to: "router.in", mode: "sync" },
        { from: "labels.out", to: "router.feedback", mode: "async" },
      ],
    });
    for (let i = 0; i < 300; i++) {
      const [reply] = await running.entrypoints.get("classify")!.invoke(tensor("float32", [1, FEATURES], row(i)));
      await running.entrypoints.get("labels")!.invoke({ requestId: reply.traceId, y: truth[i] });
    }
    await served.runtime.undeploy("live-bandit");

    const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    const errors = pageErrors(page);
    await page.goto(`${served.url}/#/models/${MODEL}/${version}`);
    await page.waitForSelector('[data-testid="ab-test"]');
    const ab = (await page.textContent('[data-testid="ab-test"]'))!;
    expect(ab).toContain("better");
    expect(ab).toContain(`@${version} candidate`);
    expect(ab).toContain(`always-valid p ${result.abTest.sequential!.pValue.toPrecision(3)}`);
    const bars = page.locator('[data-testid="bandit"] .bar-row');
    expect(await bars.count()).toBe(3);
    expect(await page.textContent('[data-testid="bandit"]')).toContain("300 rewards");
    await page.screenshot({ path: `${ARTIFACTS}/model-card-live-tests.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 90_000);
});
