/**
 * The model card in Chromium shows what the agent's idle profiler measured: a real ONNX MLP
 * registered without a profile, profiled by an IdleProfiler on a real onnxruntime host, then
 * its card's table of p50/p95/p99 per batch size read back against the registry's figures.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { IdleProfiler } from "../../gpu-agent/idle-profiler";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { makeMlp } from "../fixtures/mlp";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors, serve } from "./harness";

const dir = mkdtempSync(path.join(tmpdir(), "evoflow-card-profile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("shows the idle profiler's p50/p95/p99 per batch size on the model card", async () => {
  const registry = new FsModelRegistry(path.join(dir, "registry"));
  await registry.register({ name: "scorer", artifact: makeMlp({ sizes: [16, 64, 3], seed: 9 }).bytes });
  const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1 }), memoryBytes: 64 * 1024 * 1024, cacheDir: path.join(dir, "cache"), source: LocalModels.registrySource(registry) });
  const profiler = new IdleProfiler({ host, registry, agentId: "edge1", durationMs: 100, minRuns: 20, pollMs: 20, rescanMs: 100 });
  profiler.start();
  for (const deadline = Date.now() + 60_000; profiler.status().profiled < 1; await new Promise((r) => setTimeout(r, 50))) expect(Date.now()).toBeLessThan(deadline);
  await profiler.stop();
  await host.close();
  const profile = (await registry.get("scorer", 1))!.profile!;

  await ensureEditorBuilt();
  const served = await serve({ runtime: { dataDir: dir, services: { registry } } });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = pageErrors(page);
    await page.goto(`${served.url}/#/models/scorer/1`);
    await page.waitForSelector('[data-testid="profile-table"]');
    expect(await page.textContent('[data-testid="profile-source"]')).toContain("Measured by the idle profiler of agent edge1 (utilisation under 40%)");
    const rows = await page.locator('[data-testid^="profile-batch-"]').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
    expect(rows).toEqual(profile.results.map((r) => [String(r.batchSize), r.throughput.toFixed(0), r.latencyMs.p50.toFixed(3), r.latencyMs.p95.toFixed(3), r.latencyMs.p99.toFixed(3)]));
    expect(rows.map((r) => r[0])).toEqual(["1", "8", "32"]);
    await page.waitForSelector('[data-testid="chart-profile"] canvas');
    await page.screenshot({ path: `${ARTIFACTS}/model-card-idle-profile.png`, fullPage: true });
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    await served.close();
    await registry.close();
  }
}, 120_000);
