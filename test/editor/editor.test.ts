/**
 * The editor in a real Chromium against a real runtime: build a pipeline by
 * dragging from the palette and wiring ports, see an incompatible connection
 * refused and a config error in the panel, deploy, watch real Fashion-MNIST
 * images flow through a tap, open a trace, and export the canonical file.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatPipeline } from "../../runtime/canonical";
import { ARTIFACTS, connect, dragFromPalette, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "./harness";

const FASHION = "/usr/share/datasets/fashion-mnist";
const IMAGES = 60;

/** The first test images of Fashion-MNIST as JSONL records `{x: 784 floats in [0,1], y: label}`. */
function writeFashionJsonl(dir: string): string {
  const images = gunzipSync(readFileSync(`${FASHION}/t10k-images-idx3-ubyte.gz`));
  const labels = gunzipSync(readFileSync(`${FASHION}/t10k-labels-idx1-ubyte.gz`));
  const lines: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const pixels = images.subarray(16 + i * 784, 16 + (i + 1) * 784);
    lines.push(JSON.stringify({ x: Array.from(pixels, (p) => Math.round((p / 255) * 1000) / 1000), y: labels[8 + i] }));
  }
  const path = join(dir, "fashion.jsonl");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

describe("editor", () => {
  let served: Served;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let dir: string;
  let dataPath: string;

  beforeAll(async () => {
    await ensureEditorBuilt();
    dir = mkdtempSync(join(tmpdir(), "evoflow-editor-"));
    // In the data folder of the pipeline built below ("fashion"): config paths are relative to it and confined there.
    mkdirSync(join(dir, "data", "fashion"), { recursive: true });
    writeFashionJsonl(join(dir, "data", "fashion"));
    dataPath = "fashion.jsonl";
    served = await serve({ runtime: { dataDir: join(dir, "data") } });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 860 }, acceptDownloads: true });
    errors = pageErrors(page);
    await page.goto(served.url);
    await page.waitForSelector('[data-testid="palette-io.generator"]');
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  const statusLine = () => page.locator('[data-testid="status-line"]');

  it("builds a pipeline by dragging node types from the palette and connecting their ports", async () => {
    await page.fill('[data-testid="pipeline-name"]', "fashion");
    await page.press('[data-testid="pipeline-name"]', "Enter");
    await expect.poll(() => page.textContent('[data-testid="doc-name"]')).toBe("fashion");

    await page.fill('[data-testid="palette-search"]', "adwin");
    expect(await page.locator(".palette-item").count()).toBe(1);
    await page.fill('[data-testid="palette-search"]', "");

    await dragFromPalette(page, "io.generator", 40, 120);
    await dragFromPalette(page, "drift.adwin", 300, 120);
    await dragFromPalette(page, "io.sink", 570, 60);
    await dragFromPalette(page, "transform.set", 570, 260);
    for (const id of ["generator", "adwin", "sink", "set"]) await page.waitForSelector(`[data-testid="node-${id}"]`);
    // One handle per port, coloured by port type.
    expect(await page.locator('[data-nodeid="adwin"].react-flow__handle').count()).toBe(3);
    expect(await page.locator('[data-nodeid="adwin"][data-handleid="drift"]').getAttribute("class")).toContain("handle-event");

    await connect(page, "generator", "out", "adwin", "in");
    await connect(page, "adwin", "out", "sink", "in");
    await expect.poll(() => page.locator(".react-flow__edge").count()).toBe(2);
    await expect.poll(() => statusLine().textContent()).toContain("Connected adwin.out → sink.in (sync)");
    await page.screenshot({ path: `${ARTIFACTS}/editor-build.png` });
  });

  it("refuses an incompatible connection at once, with the checker's reason", async () => {
    await connect(page, "adwin", "drift", "set", "in");
    await expect.poll(() => statusLine().textContent()).toContain("Refused: adwin.drift (event<drift>) cannot feed set.in (record)");
    expect(await page.locator(".react-flow__edge").count()).toBe(2);
    await page.screenshot({ path: `${ARTIFACTS}/editor-refused.png` });
  });

  it("shows the validator's config error beside the field, and clears it once fixed", async () => {
    await page.click('[data-testid="node-generator"]');
    await page.waitForSelector('[data-testid="node-panel"]');
    await page.fill('[data-testid="field-rate"]', "-5");
    const rateProblem = page.locator('[data-field="rate"] .field-problem');
    await expect.poll(() => rateProblem.textContent(), { timeout: 10_000 }).toMatch(/>=\s*0/);
    await expect.poll(() => page.locator('[data-testid="node-generator"]').getAttribute("class")).toContain("has-problems");
    await page.screenshot({ path: `${ARTIFACTS}/editor-config-error.png` });

    // Not a number at all: refused in the form before anything is sent.
    await page.fill('[data-testid="field-rate"]', "fast");
    await expect.poll(() => page.locator('[data-field="rate"] .field-problem').first().textContent()).toContain('"fast" is not a number');

    await page.fill('[data-testid="field-rate"]', "40");
    await page.selectOption('[data-testid="field-source.kind"]', "jsonl");
    await page.fill('[data-testid="field-source.path"]', dataPath);
    await page.check('[data-testid="field-source.loop"]');
    await expect.poll(() => page.locator('[data-testid="node-generator"]').getAttribute("class")).not.toContain("has-problems");

    await page.click('[data-testid="node-adwin"]');
    await page.fill('[data-testid="field-value"]', "payload.y");

    // The unconnected set node needs a config; delete it instead.
    await page.click('[data-testid="node-set"]');
    await page.keyboard.press("Delete");
    await expect.poll(() => page.locator('[data-testid="node-set"]').count()).toBe(0);
    await expect.poll(() => page.textContent('[data-testid="validate"]'), { timeout: 10_000 }).toBe("Valid");
  });

  it("deploys, shows node status, and streams messages into the tap panel", async () => {
    await page.click('[data-testid="deploy"]');
    await page.waitForSelector('[data-testid="deployed"]');
    expect(served.runtime.get("fashion")).toBeDefined();
    await page.waitForSelector('[data-testid="status-generator"]');
    await expect.poll(async () => Number((await page.textContent('[data-testid="status-generator"]'))?.match(/out (\d+)/)?.[1]), { timeout: 10_000 }).toBeGreaterThan(0);

    // The live rate label sits on the edge; clicking it selects the edge.
    await page.click('[data-testid="edge-label-generator_out-adwin_in"]');
    await page.waitForSelector('[data-testid="tap-panel"]');
    await expect.poll(() => page.locator('[data-testid="tap-message"]').count(), { timeout: 10_000 }).toBeGreaterThan(2);
    await page.locator('[data-testid="tap-message"]').first().click();
    const summary = page.locator('[data-testid="tensor-summary"]');
    await expect.poll(() => summary.textContent()).toContain("x number [784]");
    // 784 values draw as a 28×28 image.
    expect(await page.locator('[data-testid="tensor-image"]').getAttribute("width")).toBe("28");
    await page.click('[data-testid="tap-pause"]');
    await page.screenshot({ path: `${ARTIFACTS}/editor-tap.png` });

    await page.click('[data-testid="open-trace"]');
    const trace = page.locator('[data-testid="trace-view"]');
    await expect.poll(() => trace.textContent()).toContain("generator.out");
    await page.screenshot({ path: `${ARTIFACTS}/editor-trace.png` });
    await page.keyboard.press("Escape");
    await expect.poll(() => trace.count()).toBe(0);

    // The drift node's own figures show in its panel while it runs.
    await page.click('[data-testid="node-adwin"]');
    await expect.poll(() => page.textContent('[data-testid="node-live"]')).toMatch(/values\s*\d+/);
  });

  it("exports exactly what evoflow fmt writes", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export"]')]);
    const exported = readFileSync(await download.path(), "utf8");
    const json = JSON.parse(exported);
    expect(json.name).toBe("fashion");
    expect(json.nodes.map((n: { id: string }) => n.id)).toEqual(["adwin", "generator", "sink"]);
    expect(json.edges).toEqual([
      { from: "adwin.out", to: "sink.in", mode: "sync" },
      { from: "generator.out", to: "adwin.in", mode: "sync" },
    ]);
    expect(json.nodes[1].config).toEqual({ rate: 40, source: { kind: "jsonl", loop: true, path: dataPath } });

    // Byte for byte what the CLI's formatter writes for the same file.
    const file = join(dir, "exported.json");
    writeFileSync(file, exported);
    execFileSync(process.execPath, ["bin/evoflow.js", "fmt", "--check", file], { cwd: join(ARTIFACTS, "..") });
    expect(exported).toBe(formatPipeline(json));
  });

  it("imports a pipeline file, keeping its ids, and exports it unchanged", async () => {
    const original = readFileSync(join(ARTIFACTS, "../pipelines/hello-http.json"), "utf8");
    expect(formatPipeline(JSON.parse(original))).toBe(original); // the example is canonical
    // The same pipeline written carelessly: keys shuffled, 4-space indent, no newline at the end.
    const messy = JSON.parse(original);
    const shuffled = { edges: messy.edges.reverse(), nodes: messy.nodes.reverse(), name: messy.name, description: messy.description, apiVersion: messy.apiVersion };
    const file = join(dir, "messy.json");
    writeFileSync(file, JSON.stringify(shuffled, null, 4));
    await page.setInputFiles('[data-testid="import-file"]', file);
    await expect.poll(() => page.textContent('[data-testid="doc-name"]')).toBe("hello");
    for (const id of ["request", "stats", "tag", "log"]) await page.waitForSelector(`[data-testid="node-${id}"]`);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export"]')]);
    expect(readFileSync(await download.path(), "utf8")).toBe(original);
  });

  it("lists the running pipeline, reopens it from the runtime, and stops it", async () => {
    await page.click(".react-flow__pane", { position: { x: 600, y: 700 } }); // nothing selected: the pipeline panel
    await expect.poll(() => page.textContent('[data-testid="running-list"]')).toContain("fashion");
    await page.click('[data-testid="running-list"] a:text("open")');
    await expect.poll(() => page.textContent('[data-testid="doc-name"]')).toBe("fashion");
    await page.waitForSelector('[data-testid="node-generator"]');
    await page.waitForSelector('[data-testid="deployed"]');
    await page.click('[data-testid="stop"]');
    await expect.poll(() => served.runtime.get("fashion")).toBeUndefined();
    await expect.poll(() => page.locator('[data-testid="deployed"]').count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
