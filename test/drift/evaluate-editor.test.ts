/** The editor's drift page in real Chromium, on a real `evoflow drift eval --json` run. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureEditorBuilt, launch, pageErrors, serve, type Served } from "../editor/harness";

describe("drift evaluation page", () => {
  let served: Served;
  let browser: Browser;
  const dir = mkdtempSync(path.join(tmpdir(), "evoflow-drift-page-"));

  beforeAll(async () => {
    await ensureEditorBuilt();
    served = await serve({ runtime: { dataDir: dir } });
    browser = await launch();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it("charts detection delay and false alarms per configuration from a run's JSON", async () => {
    const run = execFileSync("node", [path.join(__dirname, "../../bin/evoflow.js"), "drift", "eval", "--detector", "adwin", "--grid", "clock=1,32", "--stream", "abrupt", "--delta-max", "200", "--json"], { cwd: dir, encoding: "utf8" });
    const file = path.join(dir, "run.json");
    writeFileSync(file, run);
    const page = await browser.newPage();
    const errors = pageErrors(page);
    // Reached from the editor's toolbar.
    await page.goto(`${served.url}/`);
    await page.click('[data-testid="open-drift-eval"]');
    await page.waitForSelector('input[aria-label="evaluation run"]');
    await page.setInputFiles('input[aria-label="evaluation run"]', file);
    await page.waitForSelector('[data-testid="drift-eval-chart"] canvas');
    const cells = await page.locator('[data-testid="drift-eval-table"] tbody tr').allInnerTexts();
    expect(cells).toHaveLength(2);
    expect(cells[1]).toMatch(/adwin \{"clock":32\}\s+23\s+0/);
    expect(await page.locator(".u-legend").innerText()).toMatch(/detection_delay[\s\S]*false_alarm_rate/);
    await page.setInputFiles('input[aria-label="evaluation run"]', { name: "bad.json", mimeType: "application/json", buffer: Buffer.from("{}") });
    await expect(page.locator(".page-error").innerText()).resolves.toMatch(/bad\.json: not the output/);
    expect(errors).toEqual([]);
  }, 60_000);
});
