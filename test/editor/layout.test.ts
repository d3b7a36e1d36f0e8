/**
 * What a new user sees opening each example pipeline at 1400×900 and pressing Layout, in a runtime
 * with the services `evoflow run` gives (so model, trainer and gate nodes look as they do there).
 * At Fit: no node covers another, the whole pipeline is on screen, and no text on the canvas prints
 * under MIN_TEXT_PX (nodes are compact, edges bundled, each bundle showing its count). Zoomed in to
 * full detail: every edge of the file is drawn and no port label prints over another. Checked from
 * the DOM boxes and computed font sizes.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIN_TEXT_PX } from "../../editor/src/core/canvas-detail";
import { createServices } from "../../runtime/services";
import { ARTIFACTS, openEditor, type OpenEditor } from "./harness";

const PIPELINES = join(ARTIFACTS, "../pipelines");
const examples = readdirSync(PIPELINES).filter((f) => f.endsWith(".json") && !f.endsWith(".test.json")).sort();

interface Box {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

const overlaps = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

function overlapping(boxes: Box[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) if (overlaps(boxes[i], boxes[j])) found.push(`${boxes[i].id} × ${boxes[j].id}`);
  return found;
}

/** Boxes of what `selector` matches and shows (a label squeezed to nothing, or hidden at this zoom, shows nothing), named by node and text. */
async function boxes(page: Page, selector: string): Promise<Box[]> {
  const all = await page.$$eval(selector, (els) =>
    els.map((el) => {
      const r = el.getBoundingClientRect();
      const node = el.closest(".react-flow__node")?.getAttribute("data-id");
      const shown = el.checkVisibility({ visibilityProperty: true } as CheckVisibilityOptions);
      return { id: `${node}:${el.textContent}`, x: r.x, y: r.y, width: shown ? r.width : 0, height: r.height };
    }),
  );
  return all.filter((b) => b.width > 0);
}

/** Every shown piece of text on the canvas (nodes and edge labels) with its size on screen: font size × the viewport's zoom. */
async function shownTextSizes(page: Page): Promise<{ text: string; px: number }[]> {
  return page.$eval(".react-flow__viewport", (viewport) => {
    const zoom = new DOMMatrix(getComputedStyle(viewport).transform).a;
    const found: { text: string; px: number }[] = [];
    for (const el of viewport.querySelectorAll<HTMLElement>(".react-flow__node *, .edge-label, .edge-label *")) {
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent ?? "").join("").trim();
      if (!own || !el.checkVisibility({ visibilityProperty: true } as CheckVisibilityOptions) || el.getBoundingClientRect().width === 0) continue;
      found.push({ text: own, px: parseFloat(getComputedStyle(el).fontSize) * zoom });
    }
    return found;
  });
}

const detail = (page: Page) => page.getAttribute('[data-testid="canvas"]', "data-detail");

describe("layout of the example pipelines", () => {
  let editor: OpenEditor;
  let page: Page;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "evoflow-layout-"));
    editor = await openEditor({ dataDir, services: await createServices({ dataDir }) });
    page = editor.page;
  });

  afterAll(() => editor?.close());

  it.each(examples)("%s: readable at Fit with bundled edges, and no two nodes or port labels overlap", async (file) => {
    const pipeline = JSON.parse(readFileSync(join(PIPELINES, file), "utf8")) as { nodes: { id: string }[]; edges: { from: string; to: string }[] };
    await page.setInputFiles('[data-testid="import-file"]', join(PIPELINES, file));
    await expect.poll(() => page.textContent('[data-testid="status-line"]')).toContain(`Opened ${file}`);
    const before = await page.getAttribute('[data-testid="canvas"]', "data-layout-count");
    await page.click('[data-testid="layout"]');
    await expect.poll(() => page.getAttribute('[data-testid="canvas"]', "data-layout-count")).not.toBe(before);
    await page.waitForTimeout(400); // the view fits itself after the layout
    await page.screenshot({ path: `${ARTIFACTS}/layout-${file.replace(".json", "")}.png` });

    // At Fit: the whole pipeline on screen, no node over another, every text at the minimum size or above.
    const canvas = (await page.locator('[data-testid="canvas"]').boundingBox())!;
    const nodes = await boxes(page, ".react-flow__node");
    expect(nodes).toHaveLength(pipeline.nodes.length);
    expect(overlapping(nodes)).toEqual([]);
    for (const n of nodes) expect(n.x >= canvas.x && n.y >= canvas.y && n.x + n.width <= canvas.x + canvas.width && n.y + n.height <= canvas.y + canvas.height, n.id).toBe(true);
    const texts = await shownTextSizes(page);
    for (const node of pipeline.nodes) expect(texts.some((t) => t.text.includes(node.id)), `${node.id} is labelled`).toBe(true);
    expect(texts.filter((t) => t.px < MIN_TEXT_PX - 0.01)).toEqual([]);

    // Edges between the same two nodes are one bundle that shows how many it stands for, clear of every node.
    const pairs = new Map<string, number>();
    for (const e of pipeline.edges) {
      const key = `${e.from.split(".")[0]}-${e.to.split(".")[0]}`;
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
    }
    if ((await detail(page)) === "compact")
      for (const [ends, count] of pairs) {
        if (count < 2) continue;
        const label = page.locator(`[data-testid="bundle-count-${ends}"]`);
        expect(await label.textContent()).toBe(`${count} edges`);
        const box = (await label.boundingBox())!;
        expect(overlapping([{ id: `bundle ${ends}`, ...box }, ...nodes]).filter((o) => o.startsWith("bundle"))).toEqual([]);
      }

    // Full detail (zoomed in from the Controls, as a user does): every edge of the file drawn, no port label over another.
    while ((await detail(page)) !== "full") await page.click(".react-flow__controls-zoomin");
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${ARTIFACTS}/layout-${file.replace(".json", "")}-full.png` });
    expect(await page.locator(".react-flow__edge").count()).toBe(pipeline.edges.length);
    const labels = await boxes(page, ".react-flow__node .port-name, .react-flow__node .port-type");
    expect(labels.length).toBeGreaterThan(nodes.length);
    expect(overlapping(labels)).toEqual([]);
    expect((await shownTextSizes(page)).filter((t) => t.px < MIN_TEXT_PX - 0.01)).toEqual([]);
    expect(editor.errors).toEqual([]);
  });

  it("fashion-mnist-cl at Fit: the five edges leaving the stream share one trunk showing 5", async () => {
    await page.setInputFiles('[data-testid="import-file"]', join(PIPELINES, "fashion-mnist-cl.json"));
    await expect.poll(() => page.textContent('[data-testid="status-line"]')).toContain("Opened fashion-mnist-cl.json");
    await page.click('[data-testid="layout"]');
    await expect.poll(() => detail(page)).toBe("compact");
    expect(await page.textContent('[data-testid="trunk-count-fmnist-out"]')).toBe("5");
    // Bundled, the compact canvas draws one line per pair of nodes: 12 edges, 11 pairs.
    expect(await page.locator(".react-flow__edge path.react-flow__edge-path").count()).toBe(11);
  });
});
