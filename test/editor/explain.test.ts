/**
 * The trace view's explain buttons in Chromium: a running pipeline serving a real linear ONNX
 * model, its edge tapped in the editor, a request's trace opened, then explained with Kernel
 * SHAP and with occlusion; the attributions drawn are the exact ones, and kept in the trace.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Explanation, Tensor, Trace } from "../../sdk";
import { randomFloats } from "../fixtures/mlp";
import { linearModel, linearShap, modelRuntime, scoringPipeline } from "../explain/fixtures";
import { ARTIFACTS, openEditor, type OpenEditor } from "./harness";

describe("explaining a trace from the editor", () => {
  // 64 features: an 8×8 image to the editor, and too many to enumerate (sampled Kernel SHAP).
  const model = linearModel(64, 2, 41);
  const inputs = Array.from({ length: 5 }, (_, i) => randomFloats(64, 700 + i, 2));
  let editor: OpenEditor;
  let closeModels: () => Promise<void>;

  beforeAll(async () => {
    const setup = await modelRuntime();
    await setup.registry.register({ name: "clf", artifact: model.bytes });
    await setup.registry.promote("clf", 1);
    closeModels = async () => {
      await setup.models.close();
      await setup.registry.close();
    };
    editor = await openEditor({ services: { registry: setup.registry, models: setup.models } });
    const running = await editor.served.runtime.deploy(scoringPipeline("clf"));
    for (const data of inputs) await running.entrypoints.get("scorer")!.invoke({ dtype: "float32", shape: [1, 64], data } satisfies Tensor);
  }, 120_000);
  afterAll(async () => {
    await editor?.close();
    await closeModels?.();
  });

  it("explains the opened trace with Kernel SHAP and occlusion, and shows the attributions", async () => {
    const { page, served } = editor;
    await page.goto(`${served.url}/#/pipelines/scorer`);
    await page.click('[data-testid="edge-label-request_out-model_in"]');
    await page.waitForSelector('[data-testid="tap-panel"]');
    await expect.poll(() => page.locator('[data-testid="tap-message"]').count(), { timeout: 10_000 }).toBe(5);
    // Newest first: the last request.
    await page.locator('[data-testid="tap-message"]').first().click();
    await page.click('[data-testid="open-trace"]');
    const trace = page.locator('[data-testid="trace-view"]');
    await expect.poll(() => trace.textContent()).toContain("model.out");

    await page.click('[data-testid="explain-kernel-shap"]');
    const shap = page.locator('[data-testid="explanation"][data-method="kernel-shap"]');
    await shap.waitFor({ timeout: 30_000 });
    expect(await shap.textContent()).toContain("sampled: 1026 coalitions × 4 background rows");
    // What is drawn is what the trace keeps, and that is the exact answer for the last input against the other four.
    const traceId = (await trace.locator(".modal-title .mono").textContent())!;
    const kept = (await (await fetch(`${served.url}/api/traces/${traceId}`)).json()) as Trace;
    const e = kept.messages.find((m) => m.source.node === "explain")!.payload as Explanation;
    const expected = linearShap(model, e.target, inputs[4], inputs.slice(0, 4));
    (e.attributions.data as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 3));
    const bars = await shap.locator('[data-testid="attribution-bar"]').evaluateAll((els) => els.map((el) => ({ feature: Number(el.getAttribute("data-feature")), value: Number(el.getAttribute("data-value")) })));
    expect(bars).toHaveLength(12);
    const largest = expected.map((v, i) => ({ i, v })).sort((a, b) => Math.abs(b.v) - Math.abs(a.v));
    expect(bars[0].feature).toBe(largest[0].i);
    for (const bar of bars) expect(bar.value).toBeCloseTo(expected[bar.feature], 3);
    expect(await shap.locator('[data-testid="attribution-map"]').getAttribute("width")).toBe("8");

    await page.click('[data-testid="explain-occlusion"]');
    const occlusion = page.locator('[data-testid="explanation"][data-method="occlusion"]');
    await occlusion.waitFor({ timeout: 30_000 });
    expect(await occlusion.textContent()).toContain("patch 4px, stride 2");
    expect(await occlusion.locator('[data-testid="attribution-map"]').getAttribute("height")).toBe("8");
    // Explaining again keeps both in the trace, beside the prediction.
    await expect.poll(async () => ((await (await fetch(`${served.url}/api/traces/${traceId}`)).json()) as Trace).messages.filter((m) => m.source.node === "explain").length).toBe(2);
    await page.screenshot({ path: `${ARTIFACTS}/editor-explain.png` });
    expect(editor.errors).toEqual([]);
  });
});
