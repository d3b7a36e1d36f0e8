/**
 * The CL dashboard after a real promotion: a champion trained on Fashion-MNIST
 * classes 0–4, a CL pipeline (trainer.tfjs in a child process, validator.gate,
 * the registry) fed examples of every class and triggered; once the gate has
 * promoted the candidate, the dashboard lists the update with its decision and
 * the model card shows the validation report. Same recipe as test/cl/loop.test.ts,
 * smaller so it fits the browser-test budget.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessAgent } from "../../gpu-agent/in-process";
import { indicesOfClasses, loadFashionMnist, subset } from "../../nodes/continual-learning/fashion-mnist";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import { writeSnapshot } from "../../nodes/continual-learning/snapshot";
import { train, trainConfigSchema } from "../../nodes/continual-learning/train";
import { tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "./harness";

const MODEL = "fmnist";
const SERVICE = "fmnist-cl";

describe("CL dashboard", () => {
  let dir: string;
  let registry: FsModelRegistry;
  let served: Served;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    await ensureEditorBuilt();
    dir = mkdtempSync(path.join(tmpdir(), "evoflow-dashboard-"));
    registry = new FsModelRegistry(path.join(dir, "registry"));
    served = await serve({ runtime: { dataDir: dir, services: { registry, models: createInProcessAgent({ dataDir: dir, registry }) } } });
    const trainSet = loadFashionMnist("train");
    const testSet = loadFashionMnist("test");
    const initial = await train({
      config: trainConfigSchema.parse({ epochs: 2, architecture: { hidden: [32] } }),
      data: subset(trainSet, indicesOfClasses(trainSet, [0, 1, 2, 3, 4]).slice(0, 1000)),
    });
    const v1 = await registry.register({ name: MODEL, artifact: initial.onnx, labels: { classes: "0,1,2,3,4" } });
    await registry.promote(MODEL, v1.version, "initial");
    // Inside the pipeline's data folder (<data>/<pipeline>), where config paths are confined.
    const golden = await writeSnapshot(path.join(dir, SERVICE, "golden"), subset(testSet, Array.from({ length: 500 }, (_, i) => i)), { stream: "fashion-mnist test[0,500)" });
    await served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: SERVICE,
      nodes: [
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "trigger", type: "io.http", config: { name: "trigger" } },
        { id: "trainer", type: "trainer.tfjs", config: { model: MODEL, epochs: 2, architecture: { hidden: [32] }, replay: { memSize: 200 }, minSamples: 100 } },
        {
          id: "gate",
          type: "validator.gate",
          // Loose thresholds: this test is about showing a promotion, not about the quality of a 2-epoch model.
          config: { golden: path.relative(path.join(dir, SERVICE), golden.dir), minAccuracy: 0.2, maxRegression: 0.5, maxClassRegression: 0.9, maxGoldenRegression: 0.5, maxP99Ms: 500, latencyRuns: 20 },
        },
        { id: "labelDrift", type: "drift.page-hinkley", config: { value: "payload.y" } },
        { id: "decisions", type: "io.sink" },
      ],
      edges: [
        { from: "labels.out", to: "trainer.data", mode: "async" },
        { from: "labels.out", to: "gate.holdout", mode: "async" },
        { from: "labels.out", to: "labelDrift.in", mode: "async" },
        { from: "trigger.out", to: "trainer.trigger", mode: "async" },
        { from: "trainer.candidate", to: "gate.candidate", mode: "async" },
        { from: "gate.decision", to: "decisions.in", mode: "async" },
      ],
    });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    errors = pageErrors(page);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await registry?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the update history entry after a promotion, and the model card of the new version", async () => {
    await page.goto(`${served.url}/#/services/${SERVICE}`);
    await page.waitForSelector('[data-testid="dashboard"]');
    await expect.poll(() => page.locator('[data-testid="history"]').textContent()).toContain("No update yet.");

    // New labelled examples of all ten classes, then a trigger.
    const stream = loadFashionMnist("train");
    const labels = served.runtime.get(SERVICE)!.entrypoints.get("labels")!;
    for (let i = 0; i < 600; i++) await labels.invoke({ x: tensor("float32", [784], stream.x.slice((10_000 + i) * 784, (10_001 + i) * 784)), y: stream.y[10_000 + i] });
    await served.runtime.get(SERVICE)!.idle();
    await served.runtime.get(SERVICE)!.entrypoints.get("trigger")!.invoke({ kind: "trigger", reason: "dashboard test: 600 new labelled examples" });

    const history = new HistoryStore(historyRoot(dir));
    let entry;
    for (const started = Date.now(); Date.now() - started < 60_000; await new Promise((r) => setTimeout(r, 200))) {
      entry = (await history.list(SERVICE)).find((e) => e.version === 2 && e.decision !== "pending");
      if (entry) break;
    }
    expect(entry?.decision, JSON.stringify(entry?.validation?.reasons)).toBe("promoted");

    const row = page.locator('[data-testid="history-entry"]').first();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain("promoted");
    expect(await row.textContent()).toContain("fmnist@2");
    expect(await row.textContent()).toContain("600 new labelled examples");
    // A direct promotion: no rollout (nodes/continual-learning/rollout-summary.ts words canary and shadow ones).
    expect(await row.locator('[data-testid="history-rollout"]').textContent()).toBe("-");
    // Each gate check on a line of its own, pass or fail; what was measured opens on demand.
    const checks = row.locator('[data-testid="gate-check"]');
    expect(await checks.count()).toBe(entry!.validation!.checks.length);
    expect(await checks.locator("summary").allTextContents()).toEqual(entry!.validation!.checks.map((c) => `${c.passed ? "✓" : "✗"} ${c.name}`));
    const first = entry!.validation!.checks[0];
    expect(await checks.first().getByText(first.detail).isVisible()).toBe(false);
    await checks.first().locator("summary").click();
    expect(await checks.first().getByText(first.detail).isVisible()).toBe(true);
    await expect.poll(() => page.textContent('[data-testid="champion"]')).toBe("fmnist@2");
    expect(await page.textContent('[data-testid="accuracy"]')).toMatch(/^\d+\.\d%$/);
    expect(Number(await page.textContent('[data-testid="classes"]'))).toBe(10);
    // Requests over HTTP while the dashboard polls: the p99 chart follows the request path.
    for (let i = 0; i < 3; i++) {
      for (let k = 0; k < 20; k++) {
        const at = 20_000 + i * 20 + k;
        await fetch(`${served.url}/pipelines/labels`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ x: { dtype: "float32", shape: [784], data: Array.from(stream.x.subarray(at * 784, (at + 1) * 784)) }, y: stream.y[at] }),
        });
      }
      await page.waitForTimeout(1000);
    }
    // CPU per message of each node that handled some between two polls, and what 1,000 messages cost.
    await expect.poll(() => page.locator('[data-testid="chart-CPU per message"]').textContent()).toContain("labelDrift");
    expect(await page.textContent('[data-testid="cost"]')).toMatch(/^[\d.]+(e-\d+)? USD$/);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: true });

    await row.locator("a", { hasText: "fmnist@2" }).click();
    await page.waitForSelector('[data-testid="model-card"]');
    const validation = page.locator('[data-testid="validation"]');
    await expect.poll(() => validation.textContent()).toContain("holdout-accuracy");
    expect(await validation.locator("td.accepted").count()).toBe(entry!.validation!.checks.length);
    // Trigger, strategy (replay, ewc…) and the data snapshot (classes, source) in words, not JSON.
    const cells = await page.locator('[data-testid^="card-"]').evaluateAll((els) => els.map((el) => [el.getAttribute("data-testid"), el.textContent ?? ""]));
    expect(cells.map(([id]) => id)).toEqual(expect.arrayContaining(["card-trigger", "card-trainer", "card-classes", "card-source"]));
    for (const [id, text] of cells) expect(text, id!).not.toMatch(/[{}[\]"]/);
    expect(Object.fromEntries(cells)["card-trigger"]).toContain("600 new labelled examples");
    // What the gate measured it to cost, beside the champion it was judged against.
    expect(Object.fromEntries(cells)["card-cost"]).toMatch(/ms CPU · [\d.e-]+ USD.*energy from (rapl|model).*champion @1: [\d.]+ ms CPU/);
    expect(Object.fromEntries(cells)["card-classes"]).toMatch(/^\d+ classes: 0 \(/);
    expect(await page.textContent('[data-testid="model-card"]')).toContain("accuracy per class (holdout)");
    // The gate profiled the candidate: its card charts throughput and p99 against batch size.
    await page.waitForSelector('[data-testid="chart-profile"] canvas');
    await page.screenshot({ path: `${ARTIFACTS}/model-card.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 90_000);
});
