/**
 * The editor in a real Chromium against a runtime with the default grants (no exec): the
 * palette shows trainer.external locked, with a tooltip naming the grant it needs; placed on
 * the canvas, the node carries the lock too; types it grants show none.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dragFromPalette, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "../editor/harness";

describe("editor: locked node types", () => {
  let served: Served;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    await ensureEditorBuilt();
    served = await serve({ runtime: { dataDir: mkdtempSync(join(tmpdir(), "evoflow-locked-")) } });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    errors = pageErrors(page);
    await page.goto(served.url);
    await page.waitForSelector('[data-testid="palette-trainer.external"]');
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it("marks trainer.external locked in the palette, naming the missing grant", async () => {
    const item = page.locator('[data-testid="palette-trainer.external"]');
    expect(await item.getAttribute("data-locked")).toBe("true");
    await expect.poll(() => page.locator('[data-testid="lock-trainer.external"]').isVisible()).toBe(true);
    expect(await item.getAttribute("title")).toMatch(/needs the "exec" capability.*--grant exec/);
    // Granted types (io.sink needs fs-write, granted by default) and plain ones are not locked.
    for (const type of ["io.sink", "transform.jsonata"]) {
      expect(await page.locator(`[data-testid="palette-${type}"]`).getAttribute("data-locked")).toBeNull();
      expect(await page.locator(`[data-testid="lock-${type}"]`).count()).toBe(0);
    }
  });

  it("keeps the lock on the canvas", async () => {
    await dragFromPalette(page, "trainer.external", 200, 200);
    const lock = page.locator('[data-testid="lock-node-external"]');
    await expect.poll(() => lock.count(), { timeout: 10_000 }).toBe(1);
    expect(await lock.getAttribute("title")).toMatch(/--grant exec/);
    expect(await page.locator('[data-testid="node-external"]').getAttribute("class")).toContain("locked");
    expect(errors).toEqual([]);
  });
});
