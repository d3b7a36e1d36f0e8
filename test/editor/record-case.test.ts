/**
 * "Save as test" in a real Chromium against the real `evoflow run`: tap an edge of the hello
 * example, send requests, save a message as a case (and then all messages shown as another), see
 * the file beside the pipeline and the cases listed, run them green; then change the pipeline in
 * the editor, deploy, and see them red with a diff.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow, type CliProcess } from "../nats/cli";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors } from "./harness";

const TOKEN = "record-case-token";

describe("recording a test case in the editor", () => {
  let dir: string;
  let server: CliProcess;
  let url: string;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const send = async (x: number[]) => {
    const res = await fetch(`${url}/pipelines/hello`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ x }) });
    expect(res.status).toBe(200);
  };
  const testFile = () => JSON.parse(readFileSync(join(dir, "hello-http.test.json"), "utf8"));
  const caseRow = () => page.locator('[data-testid="test-case"]', { hasText: "sums from the editor" });

  beforeAll(async () => {
    await ensureEditorBuilt();
    dir = mkdtempSync(join(tmpdir(), "evoflow-record-editor-"));
    copyFileSync(resolve(import.meta.dirname, "../../pipelines/hello-http.json"), join(dir, "hello-http.json"));
    server = evoflow(["run", join(dir, "hello-http.json"), "--port", "0", "--data", join(dir, "data"), "--token", TOKEN]);
    url = (await server.waitFor(/listening on (http:\/\/\S+)/))[1];
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    errors = pageErrors(page);
    await page.goto(`${url}/?token=${TOKEN}#/pipelines/hello`);
    await page.waitForSelector('[data-testid="node-stats"]');
  });

  afterAll(async () => {
    await browser?.close();
    await server?.kill("SIGTERM");
  });

  it("saves a tapped message as a case beside the pipeline file, lists it and runs it green", async () => {
    await page.click('[data-testid="edge-label-stats_out-tag_in"]');
    await page.waitForSelector('[data-testid="tap-panel"]');
    await send([1, 2, 3]);
    await send([10, 20]);
    const newest = page.locator('[data-testid="tap-message"]').first();
    await expect.poll(() => newest.textContent(), { timeout: 10_000 }).toContain('"sum":30');
    await newest.click();
    await page.fill('[data-testid="test-name"]', "sums from the editor");
    await page.click('[data-testid="save-as-test"]');
    await expect.poll(() => page.textContent('[data-testid="save-as-test-outcome"]')).toContain('Saved case "sums from the editor"');
    await page.screenshot({ path: `${ARTIFACTS}/editor-save-as-test.png` });

    expect(testFile()).toEqual({
      cases: [
        {
          name: "sums from the editor",
          inputs: [{ node: "request", port: "out", payloads: [{ x: [10, 20] }] }],
          expect: [{ at: "stats_out-tag_in", payloads: [{ sum: 30, mean: 15, n: 2 }] }],
        },
      ],
    });

    // Nothing selected: the pipeline panel, with the file's cases.
    await page.click(".react-flow__pane", { position: { x: 20, y: 20 } });
    await expect.poll(() => caseRow().getAttribute("data-state")).toBe("not run");
    await page.click('[data-testid="run-tests"]');
    await expect.poll(() => caseRow().getAttribute("data-state"), { timeout: 20_000 }).toBe("ok");
    expect(await page.textContent('[data-testid="tests-summary"]')).toContain("1 passed, 0 failed");
    await page.screenshot({ path: `${ARTIFACTS}/editor-tests-green.png` });
  });

  it("saves every message shown as one case, oldest first, and runs both cases green", async () => {
    await page.click('[data-testid="edge-label-stats_out-tag_in"]');
    await expect.poll(() => page.locator('[data-testid="tap-message"]').count(), { timeout: 10_000 }).toBe(2);
    await page.fill('[data-testid="test-name"]', "both sums");
    await page.click('[data-testid="save-shown-as-test"]');
    await expect.poll(() => page.textContent('[data-testid="save-as-test-outcome"]')).toContain('Saved case "both sums"');
    expect(testFile().cases[1]).toEqual({
      name: "both sums",
      inputs: [{ node: "request", port: "out", payloads: [{ x: [1, 2, 3] }, { x: [10, 20] }] }],
      expect: [{ at: "stats_out-tag_in", payloads: [{ sum: 6, mean: 2, n: 3 }, { sum: 30, mean: 15, n: 2 }] }],
    });
    await page.click(".react-flow__pane", { position: { x: 20, y: 20 } });
    await page.click('[data-testid="run-tests"]');
    await expect.poll(() => page.textContent('[data-testid="tests-summary"]'), { timeout: 20_000 }).toContain("2 passed, 0 failed");
    expect(await page.locator('[data-testid="test-case"][data-state="ok"]').count()).toBe(2);
  });

  it("runs the cases red with their diffs once the deployed pipeline computes something else", async () => {
    await page.click('[data-testid="node-stats"]');
    await page.fill('[data-testid="field-expression"]', '{ "sum": $sum(x) * 2, "mean": $average(x), "n": $count(x) }');
    await page.click('[data-testid="deploy"]');
    await expect.poll(() => page.textContent('[data-testid="status-line"]')).toContain("Deployed hello");
    await page.click(".react-flow__pane", { position: { x: 20, y: 20 } });
    await page.click('[data-testid="run-tests"]');
    await expect.poll(() => caseRow().getAttribute("data-state"), { timeout: 20_000 }).toBe("fail");
    const diff = await caseRow().locator('[data-testid="test-diff"]').textContent();
    expect(diff).toContain("stats_out-tag_in: payloads differ");
    expect(diff).toMatch(/- +"sum": 30\n\+ +"sum": 60/);
    expect(await page.textContent('[data-testid="tests-summary"]')).toContain("0 passed, 2 failed");
    await page.screenshot({ path: `${ARTIFACTS}/editor-tests-red.png` });
  });

  it("saves nothing into a test file broken by hand, and says where it is broken", async () => {
    const broken = `${JSON.stringify({ cases: [{ name: "hand-made", expect: [{ at: "tag.out" }] }] })}\n`;
    writeFileSync(join(dir, "hello-http.test.json"), broken);
    await page.click('[data-testid="edge-label-stats_out-tag_in"]');
    await page.waitForSelector('[data-testid="tap-panel"]');
    await send([4]); // the redeployed pipeline's taps start empty
    await page.locator('[data-testid="tap-message"]').first().click();
    await page.click('[data-testid="save-as-test"]');
    const outcome = page.locator('[data-testid="save-as-test-outcome"]');
    await expect.poll(() => outcome.textContent()).toContain("Not saved: the test file is not valid");
    expect(await outcome.textContent()).toContain("$.cases[0].expect[0]: expects nothing");
    expect(readFileSync(join(dir, "hello-http.test.json"), "utf8")).toBe(broken);
    expect(errors).toEqual([]);
  });
});
