/**
 * The live queue of an async edge, as the editor shows it on the edge: a generator feeds a node
 * held at a gate, so the edge's queue rises poll after poll to its capacity (orange from 80 %,
 * red when full, the generator then waiting: `block`), on full and compact nodes alike; opened, it drains back to 0. Real runtime
 * and Chromium; the figures come through the status path the editor polls.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIT_MIN_ZOOM, MIN_TEXT_PX } from "../../editor/src/core/canvas-detail";
import { gate, probe, testNodeTypes } from "../runtime/helpers";
import { ARTIFACTS, openEditor, type OpenEditor } from "./harness";

const EDGE = "source_out-held_in";
const CAPACITY = 60;

/** Whether the edge's label is what shows at its centre and near its corners (no node covers any of it). */
const onTop = (page: Page, edge: string) =>
  page.$eval(`[data-testid="edge-label-${edge}"]`, (label) => {
    const r = label.getBoundingClientRect();
    const points = [[r.width / 2, r.height / 2], [2, 2], [r.width - 2, 2], [2, r.height - 2], [r.width - 2, r.height - 2]];
    return points.every(([dx, dy]) => label.contains(document.elementFromPoint(r.x + dx, r.y + dy)));
  });

describe("queue depth on an async edge", () => {
  let editor: OpenEditor;
  let page: Page;

  beforeAll(async () => {
    editor = await openEditor({ nodeTypes: testNodeTypes });
    page = editor.page;
  });

  afterAll(() => editor?.close());

  it("rises while the downstream is held, shows red when full, and falls once it runs", async () => {
    const hold = gate();
    probe("held", { gate: hold });
    await editor.served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "queue-demo",
      nodes: [
        { id: "source", type: "io.generator", position: { x: 0, y: 0 }, config: { source: { kind: "synthetic", count: 200 }, rate: 30 } },
        { id: "held", type: "test.recorder", position: { x: 320, y: 0 }, config: { key: "held" } },
      ],
      edges: [{ from: "source.out", to: "held.in", mode: "async", queue: { capacity: CAPACITY, overflow: "block" } }],
    });
    await page.goto(`${editor.served.url}/#/pipelines/queue-demo`);
    const queue = page.locator(`[data-testid="edge-queue-${EDGE}"]`);
    await queue.waitFor();
    expect(await queue.getAttribute("data-capacity")).toBe(String(CAPACITY));

    // Once a second the editor polls; at 30 messages a second the queue fills over about two seconds.
    const seen: number[] = [];
    await expect
      .poll(
        async () => {
          const depth = Number(await queue.getAttribute("data-depth"));
          if (seen.at(-1) !== depth) seen.push(depth);
          return depth;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(CAPACITY);
    const rising = seen.filter((d) => d > 0 && d < CAPACITY);
    expect(rising.length, `depths seen: ${seen.join(", ")}`).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    expect(await queue.textContent()).toContain(`queue ${CAPACITY}/${CAPACITY}`);
    expect(await queue.getAttribute("class")).toContain("queue-full");
    expect(await onTop(page, EDGE), "nothing covers the label").toBe(true);
    expect(await queue.evaluate((el) => getComputedStyle(el).color)).toBe("rgb(224, 49, 49)");
    await page.screenshot({ path: `${ARTIFACTS}/queue-depth-full.png` });

    // Zoomed out to compact nodes, as far as Fit goes, the edge (a bundle of one) still shows its queue, readable and uncovered.
    const zoom = () => page.$eval(".react-flow__viewport", (el) => new DOMMatrix(getComputedStyle(el).transform).a);
    while ((await zoom()) > FIT_MIN_ZOOM * 1.2) await page.click(".react-flow__controls-zoomout");
    expect(await page.getAttribute('[data-testid="canvas"]', "data-detail")).toBe("compact");
    await page.waitForTimeout(300);
    expect(await queue.textContent()).toContain(`queue ${CAPACITY}/${CAPACITY}`);
    const onScreenPx = await queue.evaluate((el) => parseFloat(getComputedStyle(el.parentElement!).fontSize) * new DOMMatrix(getComputedStyle(document.querySelector(".react-flow__viewport")!).transform).a);
    expect(onScreenPx).toBeGreaterThanOrEqual(MIN_TEXT_PX - 0.01);
    expect(await onTop(page, EDGE), "nothing covers the label").toBe(true);
    // A compact node keeps its live rate, before its type.
    expect(await page.textContent('[data-testid="compact-status-source"]')).toMatch(/^\d+\/s · $/);
    await page.screenshot({ path: `${ARTIFACTS}/queue-depth-compact.png` });

    hold.open();
    await expect.poll(async () => Number(await queue.getAttribute("data-depth")), { timeout: 15_000, interval: 200 }).toBeLessThan(CAPACITY * 0.8);
    expect(await queue.getAttribute("class")).toContain("queue-ok");
    await expect.poll(async () => Number(await queue.getAttribute("data-depth")), { timeout: 15_000, interval: 200 }).toBe(0);
    expect(editor.errors).toEqual([]);
  });
});
