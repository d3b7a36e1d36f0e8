/**
 * The dashboard's root-cause panel in Chromium: the planted-shift pipeline (test/drift/planted-shift.ts)
 * fires its KS detector; the panel, behind the token, names the generator's edge and x[1] as where
 * the shift entered, draws a bar per test, ranks them in a table, and follows a change of correction.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { finished, plantedShiftPipeline } from "../drift/planted-shift";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "./harness";

const TOKEN = "rca-panel-token";

describe("root-cause panel", () => {
  let served: Served;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    await ensureEditorBuilt();
    served = await serve({ token: TOKEN, runtime: { dataDir: mkdtempSync(path.join(tmpdir(), "evoflow-rca-panel-")) } });
    await finished(await served.runtime.deploy(plantedShiftPipeline));
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    errors = pageErrors(page);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it("shows where the planted shift entered, as a bar chart and a ranking", async () => {
    // The token is traded for a cookie, as the URL `evoflow run` prints does.
    await page.goto(`${served.url}/?token=${TOKEN}#/services/planted-shift`);
    const entry = page.locator('[data-testid="rca-entry"]');
    await entry.waitFor();
    expect(await entry.textContent()).toMatch(/^The shift entered at gen\.out → A\.in, feature payload\.x\[1\] \(ks, p = /);
    const rows = page.locator('[data-testid="rca-row"]');
    expect(await rows.first().locator("td").allTextContents()).toEqual(expect.arrayContaining(["1", "0", "gen.out → A.in", "payload.x[1]", "ks", "yes"]));
    const shifted = await page.locator('[data-testid="rca-row"] td:last-child').allTextContents();
    expect(shifted.filter((s) => s === "yes")).toHaveLength(4);
    // One bar label per test on the chart's x axis, the planted one first.
    const chart = page.locator('[data-testid="rca-chart"]');
    expect(await chart.locator("canvas").count()).toBe(1);
    const box = await chart.locator("canvas").boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(await chart.locator(".u-legend").textContent()).toMatch(/shifted.*not shifted.*threshold/);
    await page.screenshot({ path: path.join(ARTIFACTS, "rca-panel.png"), fullPage: true });

    // Another correction: the panel asks again; Benjamini–Hochberg's threshold is the one the runtime computed.
    const legend = chart.locator(".u-legend");
    expect(await legend.textContent()).toMatch(/threshold \(p < 0\.0038\)/); // 0.05 / 13 tests
    await page.selectOption('[data-testid="rca-correction"]', "fdr");
    await page.waitForFunction(() => !/p < 0\.0038\)/.test(document.querySelector('[data-testid="rca-chart"] .u-legend')?.textContent ?? ""));
    expect(await legend.textContent()).toMatch(/threshold \(p < 0\.0\d+\)/);
    expect(await entry.textContent()).toMatch(/gen\.out → A\.in, feature payload\.x\[1\]/);
    expect(errors).toEqual([]);
  }, 60_000);
});
