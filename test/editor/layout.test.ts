/**
 * What a new user sees opening each example pipeline at 1400×900 and pressing Layout: no node
 * covers another, no port label prints over another (checked from the DOM boxes), and at the
 * zoom Fit leaves, node text stays readable.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

/** Boxes of what `selector` matches and shows (a label squeezed to nothing shows nothing), named by node and text. */
async function boxes(page: Page, selector: string): Promise<Box[]> {
  return page.$$eval(selector, (els) =>
    els.map((el) => {
      const r = el.getBoundingClientRect();
      const node = el.closest(".react-flow__node")?.getAttribute("data-id");
      return { id: `${node}:${el.textContent}`, x: r.x, y: r.y, width: r.width, height: r.height };
    }),
  );
}

describe("layout of the example pipelines", () => {
  let editor: OpenEditor;
  let page: Page;

  beforeAll(async () => {
    editor = await openEditor({});
    page = editor.page;
  });

  afterAll(() => editor?.close());

  it.each(examples)("%s: no two nodes and no two port labels overlap after Layout, and Fit keeps text readable", async (file) => {
    await page.setInputFiles('[data-testid="import-file"]', join(PIPELINES, file));
    await expect.poll(() => page.textContent('[data-testid="status-line"]')).toContain(`Opened ${file}`);
    const before = await page.getAttribute('[data-testid="canvas"]', "data-layout-count");
    await page.click('[data-testid="layout"]');
    await expect.poll(() => page.getAttribute('[data-testid="canvas"]', "data-layout-count")).not.toBe(before);
    await page.waitForTimeout(400); // the view fits itself after the layout
    await page.screenshot({ path: `${ARTIFACTS}/layout-${file.replace(".json", "")}.png` });

    const nodes = await boxes(page, ".react-flow__node");
    expect(nodes.length).toBeGreaterThan(1);
    expect(overlapping(nodes)).toEqual([]);
    const labels = (await boxes(page, ".react-flow__node .port-name, .react-flow__node .port-type")).filter((b) => b.width > 0);
    expect(labels.length).toBeGreaterThan(nodes.length);
    expect(overlapping(labels)).toEqual([]);

    // Node titles at the fitted zoom: 12 px text zoomed no smaller than 0.75, a line of at least 10 px on screen.
    const titleHeights = await page.$$eval(".flow-node-id", (els) => els.map((el) => el.getBoundingClientRect().height));
    expect(Math.min(...titleHeights)).toBeGreaterThanOrEqual(10);
    expect(editor.errors).toEqual([]);
  });
});
