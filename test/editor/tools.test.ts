/**
 * Editing tools and access: copy/paste, delete, undo/redo, dagre auto-layout,
 * switching an edge's mode, ports that follow config, the token, and the page
 * served when the editor is not built.
 */
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { editorRoutes } from "../../runtime/api/editor";
import { Runtime } from "../../runtime/runtime";
import { ARTIFACTS, ensureEditorBuilt, handle, launch, pageErrors, serve, type Served } from "./harness";

const HELLO = join(ARTIFACTS, "../pipelines/hello-http.json");

describe("editor tools", () => {
  let served: Served;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    await ensureEditorBuilt();
    served = await serve({ runtime: { dataDir: mkdtempSync(join(tmpdir(), "evoflow-tools-")) } });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 860 }, acceptDownloads: true });
    errors = pageErrors(page);
    await page.goto(served.url);
    await page.setInputFiles('[data-testid="import-file"]', HELLO);
    await page.waitForSelector('[data-testid="node-stats"]');
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  const nodeCount = () => page.locator(".react-flow__node").count();
  const position = async (id: string) => (await page.locator(`[data-testid="rf__node-${id}"]`).boundingBox())!;

  it("copies, pastes, deletes, and undoes and redoes each step", async () => {
    expect(await nodeCount()).toBe(4);
    await page.click('[data-testid="node-stats"]');
    await page.keyboard.press("Control+c");
    await page.keyboard.press("Control+v");
    await page.waitForSelector('[data-testid="node-stats2"]');
    expect(await nodeCount()).toBe(5);
    // The pasted copy keeps the config.
    await page.click('[data-testid="node-stats2"]');
    expect(await page.inputValue('[data-testid="field-expression"]')).toContain("$sum(x)");

    await page.keyboard.press("Delete");
    await expect.poll(nodeCount).toBe(4);
    await page.keyboard.press("Control+z");
    await expect.poll(nodeCount).toBe(5);
    await page.keyboard.press("Control+z");
    await expect.poll(nodeCount).toBe(4);
    await page.keyboard.press("Control+Shift+z");
    await expect.poll(nodeCount).toBe(5);
    await page.click('[data-testid="undo"]');
    await expect.poll(nodeCount).toBe(4);
  });

  it("lays the graph out left to right with dagre", async () => {
    const before = await page.getAttribute('[data-testid="canvas"]', "data-layout-count");
    await page.click('[data-testid="layout"]');
    await expect.poll(() => page.getAttribute('[data-testid="canvas"]', "data-layout-count")).not.toBe(before);
    await page.waitForTimeout(300); // the view fits itself after the layout
    const [request, stats, tag, log] = await Promise.all(["request", "stats", "tag", "log"].map(position));
    expect(request.x).toBeLessThan(stats.x);
    expect(stats.x).toBeLessThan(tag.x);
    expect(request.x).toBeLessThan(log.x);
    // Nodes do not overlap.
    expect(Math.abs(tag.y - log.y)).toBeGreaterThanOrEqual(Math.min(tag.height, log.height));
    await page.screenshot({ path: `${ARTIFACTS}/editor-layout.png` });
  });

  it("switches an edge between sync (solid) and async (dashed)", async () => {
    const edge = page.locator('[data-testid="rf__edge-stats_out-tag_in"]');
    // Click the middle of the line between stats.out and tag.in.
    const a = (await page.locator(handle("stats", "out", "source")).boundingBox())!;
    const b = (await page.locator(handle("tag", "in", "target")).boundingBox())!;
    await page.mouse.click((a.x + a.width / 2 + b.x + b.width / 2) / 2, (a.y + a.height / 2 + b.y + b.height / 2) / 2);
    await page.waitForSelector('[data-testid="edge-panel"]');
    expect(await edge.locator(".react-flow__edge-path").getAttribute("style")).not.toContain("stroke-dasharray");
    await page.selectOption('[data-testid="edge-mode"]', "async");
    await expect.poll(() => edge.locator(".react-flow__edge-path").getAttribute("style")).toContain("stroke-dasharray");
    // The queue form is generated from the pipeline schema.
    await page.fill('[data-testid="field-capacity"]', "64");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export"]')]);
    const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
    expect(exported.edges.find((e: { from: string }) => e.from === "stats.out")).toEqual({ from: "stats.out", to: "tag.in", mode: "async", queue: { capacity: 64 } });
    await page.screenshot({ path: `${ARTIFACTS}/editor-edge-async.png` });
  });

  it("gives config-dependent nodes the ports their config declares", async () => {
    await page.dblclick('[data-testid="palette-control.join"]');
    await page.waitForSelector('[data-testid="node-join"]');
    expect(await page.locator('.react-flow__handle.target[data-nodeid="join"]').count()).toBe(2);
    await page.click('[data-testid="field-inputs-add"]');
    await page.fill('[data-testid="field-inputs.2"]', "labels");
    await expect.poll(() => page.locator('.react-flow__handle.target[data-nodeid="join"]').count()).toBe(3);
    expect(await page.locator('[data-nodeid="join"][data-handleid="labels"]').count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it("shows the validator's edge problems on the edge and in the pipeline panel", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "evoflow-bad-edge-")), "bad.json");
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "evoflow/v1",
        name: "bad",
        nodes: [
          { id: "detector", type: "drift.adwin", position: { x: 0, y: 0 } },
          { id: "tag", type: "transform.set", position: { x: 300, y: 0 }, config: { set: { a: 1 } } },
        ],
        edges: [{ from: "detector.drift", to: "tag.in", mode: "sync" }],
      }),
    );
    await page.setInputFiles('[data-testid="import-file"]', file);
    const label = page.locator('[data-testid="edge-label-detector_drift-tag_in"]');
    await expect.poll(() => label.textContent(), { timeout: 10_000 }).toBe("⚠ problem");
    expect(await label.getAttribute("title")).toContain("cannot feed");
    await page.click(".react-flow__pane", { position: { x: 600, y: 700 } });
    await expect.poll(() => page.textContent('[data-testid="problem-list"]')).toContain("detector.drift (event<drift>) cannot feed tag.in (record)");
    await page.screenshot({ path: `${ARTIFACTS}/editor-edge-problem.png` });
  });

  it("summarises tensor messages on a tap: shape, dtype, min/max/mean and a 28×28 image", async () => {
    await served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "images",
      nodes: [
        { id: "stream", type: "io.fashion-mnist", position: { x: 0, y: 0 }, config: { rate: 20, phases: [{ count: 500, classes: [0, 1, 2], shift: "none" }] } },
        { id: "sink", type: "io.sink", position: { x: 320, y: 0 } },
      ],
      edges: [{ from: "stream.request", to: "sink.in", mode: "sync" }],
    });
    await page.goto(`${served.url}/#/pipelines/images`);
    const label = page.locator('[data-testid="edge-label-stream_request-sink_in"]');
    await label.waitFor();
    await label.click();
    await expect.poll(() => page.locator('[data-testid="tap-message"]').count(), { timeout: 10_000 }).toBeGreaterThan(1);
    await page.locator('[data-testid="tap-message"]').first().click();
    const summary = page.locator('[data-testid="message-detail"] [data-testid="tensor-summary"]');
    await expect.poll(() => summary.textContent()).toMatch(/payload float32 \[1, 784\]min [\d.]+ · max [\d.]+ · mean [\d.]+/);
    expect(await page.locator('[data-testid="message-detail"] [data-testid="tensor-image"]').getAttribute("height")).toBe("28");
    await page.screenshot({ path: `${ARTIFACTS}/editor-tap-tensor.png` });
    await served.runtime.undeploy("images");
  });

  it("needs the token when the runtime has one, from the URL or a prompt", async () => {
    const guarded = await serve({ token: "s3cret" });
    try {
      expect((await fetch(`${guarded.url}/api/nodes`)).status).toBe(401);
      const tokenPage = await browser.newPage();
      await tokenPage.goto(`${guarded.url}/#token=s3cret`);
      await tokenPage.waitForSelector('[data-testid="palette-io.generator"]');
      expect(new URL(tokenPage.url()).hash).not.toContain("s3cret"); // not left in the address bar
      await tokenPage.close();

      const prompted = await browser.newPage();
      const asked: string[] = [];
      prompted.on("dialog", (d) => {
        asked.push(d.message());
        void d.accept("s3cret");
      });
      await prompted.goto(guarded.url);
      await prompted.waitForSelector('[data-testid="palette-io.generator"]');
      expect(asked).toEqual(["This Evoflow runtime needs an access token:"]);
      await prompted.close();
    } finally {
      await guarded.close();
    }
  });

  it("serves a 503 page naming the build command when the editor is not built", async () => {
    const app = Fastify();
    const runtime = new Runtime();
    await editorRoutes(app, runtime, join(tmpdir(), "no-such-editor-dist"));
    const res = await app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain("npm run build:editor");
    const ports = await app.inject({ method: "POST", url: "/api/nodes/control.join/ports", payload: { config: { inputs: ["x", "y", "z"] } } });
    expect(Object.keys(ports.json().inputs)).toEqual(["x", "y", "z"]);
    const bad = await app.inject({ method: "POST", url: "/api/nodes/control.join/ports", payload: { config: { inputs: ["x"] } } });
    expect(bad.statusCode).toBe(400);
    expect((await app.inject({ method: "POST", url: "/api/nodes/no.such/ports", payload: {} })).statusCode).toBe(404);
    await app.close();
    await runtime.close();
  });
});
