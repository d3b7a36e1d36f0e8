/**
 * A pipeline too big to draw at once (above 1,000 nodes the editor draws only what is in view,
 * editor/src/Editor.tsx): it opens fitted, draws the nodes in view and the edges between them,
 * draws far nodes once the user zooms out to them, and exports every node and edge it did not draw.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatPipeline } from "../../runtime/canonical";
import { openEditor, type OpenEditor } from "./harness";

const CHAINS = 120;
const CHAIN = ["gen", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "sink"];

function bigPipeline() {
  const nodes: unknown[] = [];
  const edges: unknown[] = [];
  for (let c = 0; c < CHAINS; c++) {
    CHAIN.forEach((k, i) => {
      const type = k === "gen" ? "io.generator" : k === "sink" ? "io.sink" : "transform.set";
      nodes.push({ id: `c${c}_${k}`, type, position: { x: i * 260, y: c * 120 }, ...(type === "transform.set" ? { config: { set: { step: i } } } : {}) });
      if (i > 0) edges.push({ from: `c${c}_${CHAIN[i - 1]}.out`, to: `c${c}_${k}.in`, mode: "sync" });
    });
  }
  return { apiVersion: "evoflow/v1", name: "big", nodes, edges };
}

describe("a 1,200-node pipeline in the editor", () => {
  let editor: OpenEditor;
  const dir = mkdtempSync(join(tmpdir(), "evoflow-large-"));
  const file = join(dir, "big.json");
  const pipeline = bigPipeline();

  beforeAll(async () => {
    writeFileSync(file, formatPipeline(pipeline));
    editor = await openEditor();
  });
  afterAll(async () => editor?.close());

  it("opens fitted with the nodes in view drawn, draws far nodes when zoomed out to them, and exports them all", async () => {
    const { page } = editor;
    const edgePath = (id: string) => page.evaluate((id) => document.querySelector(`.react-flow__edge[data-id="${id}"] path`)?.getAttribute("d") ?? "", id);
    await page.waitForSelector('[data-testid="palette-io.generator"]');
    await page.setInputFiles('[data-testid="import-file"]', file);
    await expect.poll(() => page.getAttribute('[data-testid="canvas"]', "data-fit-count"), { timeout: 20_000 }).toBe("1");
    await expect.poll(() => page.textContent('[data-testid="status-line"]')).toContain("1200 nodes");

    const drawn = await page.locator(".react-flow__node").count();
    expect(drawn).toBeGreaterThan(20);
    expect(drawn).toBeLessThan(pipeline.nodes.length / 2);
    // Fit centres the pipeline: the middle chain's ends are drawn, joined by their edge; the first chain is not.
    const middle = CHAINS / 2;
    await page.waitForSelector(`[data-testid="node-c${middle}_t1"]`);
    await expect.poll(() => edgePath(`c${middle}_gen_out-c${middle}_t1_in`)).toMatch(/^M/);
    expect(await page.locator('[data-testid="node-c0_gen"]').count()).toBe(0);

    // Zoomed out until the first chain is in view: it is drawn, with its edges.
    const pane = (await page.locator(".react-flow__pane").boundingBox())!;
    await page.mouse.move(pane.x + pane.width / 2, pane.y + pane.height / 2);
    for (let i = 0; i < 10 && (await page.locator('[data-testid="node-c0_gen"]').count()) === 0; i++) {
      await page.mouse.wheel(0, 400);
      await page.waitForTimeout(200);
    }
    await page.waitForSelector('[data-testid="node-c0_gen"]', { timeout: 10_000 });
    await expect.poll(() => edgePath("c0_gen_out-c0_t1_in")).toMatch(/^M/);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export"]')]);
    const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
    expect(exported.nodes).toHaveLength(pipeline.nodes.length);
    expect(exported.edges).toHaveLength(pipeline.edges.length);
    expect(editor.errors).toEqual([]);
  });
});
