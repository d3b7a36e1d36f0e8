/**
 * The labeling page in Chromium: a sampler.uncertainty node queues real Fashion-MNIST images;
 * the page draws the one leased to the labeler with the model's guesses, a key press labels it,
 * and the label reaches the collector's join (its class counts), with who labelled it shown; a
 * record is shown as a table, labelled by click, and an item skipped comes back.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FASHION_MNIST_CLASSES, imageRow, loadFashionMnistImages } from "../../nodes/continual-learning/fashion-mnist";
import { LabelQueues } from "../../nodes/sampler/label-queue";
import { tensor } from "../../sdk/ports";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "./harness";
import type { Browser } from "playwright-core";

describe("labeling page", () => {
  let served: Served;
  let browser: Browser;
  let queues: LabelQueues;

  beforeAll(async () => {
    await ensureEditorBuilt();
    const dir = mkdtempSync(path.join(tmpdir(), "evoflow-labeling-"));
    queues = new LabelQueues(path.join(dir, "label-queues"));
    served = await serve({ runtime: { dataDir: dir, services: { "sampler.label-queues": queues } } });
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await queues?.close();
  });

  it("labels the leased image by keyboard, and the label reaches the collector", async () => {
    const running = await served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "fm-al",
      nodes: [
        { id: "serve", type: "io.http", config: { name: "fm-al" } },
        { id: "sampler", type: "sampler.uncertainty", config: { queue: "fm", classes: FASHION_MNIST_CLASSES, requestId: "payload.requestId", window: { size: 3, perWindow: 1 } } },
        { id: "collector", type: "sampler.collector", config: { requestId: "payload.requestId", x: "payload.input" } },
      ],
      edges: [
        { from: "serve.out", to: "sampler.in" },
        { from: "serve.out", to: "collector.in" },
        { from: "sampler.labels", to: "collector.label", mode: "async" },
      ],
    });
    const images = await loadFashionMnistImages("test", { from: 0, to: 3 });
    // Image 1 gets the flattest scores, so it is the one the window sends.
    const tops = [0.9, 0.3, 0.8];
    for (let i = 0; i < 3; i++) {
      const scores = Array.from({ length: 10 }, (_, k) => (k === 6 ? tops[i] : (1 - tops[i]) / 9));
      await running.entrypoints.get("fm-al")!.invoke({ requestId: `r${i}`, input: tensor("float32", [1, 784], imageRow(images, i)), scores });
    }
    await running.idle();
    const truth = images.y[1];

    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors = pageErrors(page);
    await page.goto(`${served.url}/#/labels/fm`);
    await page.getByTestId("labeler-name").fill("ann");
    await page.keyboard.press("Enter");
    await page.getByTestId("label-item").waitFor();
    expect(await page.getByTestId("tensor-image").count()).toBe(1);
    expect(await page.getByTestId("label-guesses").innerText()).toMatch(/^Shirt 30%/);
    await page.screenshot({ path: path.join(ARTIFACTS, "labeling-page.png") });

    // Keys: 1–9 for classes 0–8, 0 for class 9.
    await page.keyboard.press(truth === 9 ? "0" : String(truth + 1));
    await page.getByTestId("label-empty").waitFor();
    await expect.poll(() => page.getByTestId("label-recent").innerText()).toContain(`${FASHION_MNIST_CLASSES[truth]} by ann`);
    await running.idle();
    expect(running.status().nodes.collector).toMatchObject({ samples: 1, joined: 1, classes: { [truth]: 1 } });
    expect(errors).toEqual([]);
  });

  it("shows a record as a table, labels by click, and a skipped item comes back", async () => {
    const running = await served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "rec-al",
      nodes: [
        { id: "serve", type: "io.http", config: { name: "rec-al" } },
        { id: "sampler", type: "sampler.uncertainty", config: { queue: "rec", classes: ["ok", "fault"], requestId: "payload.requestId", window: { size: 2, perWindow: 2 } } },
        { id: "collector", type: "sampler.collector", config: { requestId: "payload.requestId", x: "payload.input" } },
      ],
      edges: [
        { from: "serve.out", to: "sampler.in" },
        { from: "serve.out", to: "collector.in" },
        { from: "sampler.labels", to: "collector.label", mode: "async" },
      ],
    });
    // r0 is the more uncertain, so it is offered first.
    await running.entrypoints.get("rec-al")!.invoke({ requestId: "r0", input: { temperature: 81.5, site: "north" }, scores: [0.5, 0.5] });
    await running.entrypoints.get("rec-al")!.invoke({ requestId: "r1", input: { temperature: 20, site: "south" }, scores: [0.7, 0.3] });
    await running.idle();

    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors = pageErrors(page);
    await page.goto(`${served.url}/#/labels/rec`);
    await page.getByTestId("labeler-name").fill("bob");
    await page.keyboard.press("Enter");
    const record = page.getByTestId("label-record");
    await expect.poll(() => record.innerText()).toMatch(/temperature\s+81\.5\s+site\s+north/);
    // Skipped: the other item is offered; once it is labelled (by click), the skipped one returns.
    await page.getByTestId("label-skip").click();
    await expect.poll(() => record.innerText()).toMatch(/temperature\s+20\s+site\s+south/);
    await page.getByTestId("label-choice-0").click();
    await expect.poll(() => record.innerText()).toMatch(/site\s+north/);
    await page.getByTestId("label-choice-1").click();
    await page.getByTestId("label-empty").waitFor();
    await expect.poll(() => page.getByTestId("label-recent").innerText()).toContain("fault by bob");
    await running.idle();
    expect(running.status().nodes.collector).toMatchObject({ joined: 2, classes: { 0: 1, 1: 1 } });
    const items = (await queues.get("rec")).list();
    expect(items.map((i) => [i.requestId, i.label?.value, i.label?.labeler, i.skips.length])).toEqual([["r0", 1, "bob", 1], ["r1", 0, "bob", 0]]);
    expect(errors).toEqual([]);
  });
});
