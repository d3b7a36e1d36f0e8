/**
 * The URL `evoflow serve` prints, opened in Chromium: the editor loads, the token leaves
 * the address bar (traded for an HttpOnly cookie), the editor deploys a pipeline and
 * taps an edge over a WebSocket on that cookie alone, and a reload without the token
 * still works, with no prompt.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors } from "../editor/harness";

const HELLO = join(ARTIFACTS, "../pipelines/hello-http.json");

describe("the printed editor URL in a browser", () => {
  let server: ChildProcess;
  let browser: Browser;
  let base: string;
  let editorUrl: string;
  let token: string;

  beforeAll(async () => {
    await ensureEditorBuilt();
    const data = mkdtempSync(join(tmpdir(), "evoflow-auth-browser-"));
    server = spawn(process.execPath, ["bin/evoflow.js", "serve", "--port", "0", "--data", data], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, EVOFLOW_TOKEN: "" } });
    [base, editorUrl] = await new Promise<[string, string]>((resolve, reject) => {
      let out = "";
      server.stdout!.on("data", (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)[\s\S]*editor: (http:\/\/\S+)/.exec(out);
        if (m) resolve([m[1], m[2]]);
      });
      server.once("exit", (code) => reject(new Error(`evoflow serve exited with ${code}`)));
    });
    token = readFileSync(join(data, "token"), "utf8").trim();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    server?.kill("SIGTERM");
  });

  it("opens, drops the token from the URL, deploys and taps on the cookie, and reloads without the token", async () => {
    expect(editorUrl).toBe(`${base}/?token=${token}`);
    const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    const errors = pageErrors(page);
    const prompts: string[] = [];
    page.on("dialog", (d) => {
      prompts.push(d.message());
      void d.dismiss();
    });
    await page.goto(editorUrl);
    await page.waitForSelector('[data-testid="palette-io.generator"]');
    expect(page.url()).toBe(`${base}/`);
    expect(await page.evaluate(() => document.cookie)).not.toContain(token); // HttpOnly: page scripts cannot read it

    await page.setInputFiles('[data-testid="import-file"]', HELLO);
    await page.click('[data-testid="deploy"]');
    await page.waitForSelector('[data-testid="deployed"]');
    const listed = (await (await fetch(`${base}/api/pipelines`, { headers: { authorization: `Bearer ${token}` } })).json()) as { name: string }[];
    expect(listed.map((p) => p.name)).toEqual(["hello"]);

    // The tap panel's WebSocket carries only the cookie.
    await page.click('[data-testid="edge-label-request_out-stats_in"]');
    await page.waitForSelector('[data-testid="tap-panel"]');
    const post = () => fetch(`${base}/pipelines/hello`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ x: [5] }) });
    await expect.poll(async () => (await post(), page.locator('[data-testid="tap-message"]').count()), { timeout: 15_000 }).toBeGreaterThan(0);

    await page.reload();
    await page.waitForSelector('[data-testid="palette-io.generator"]');
    const fromPage = await page.evaluate(async () => (await fetch("/api/pipelines")).status);
    expect(fromPage).toBe(200);
    expect(prompts).toEqual([]);
    expect(errors).toEqual([]);
    await page.screenshot({ path: `${ARTIFACTS}/auth-editor-after-reload.png` });

    // Another browser profile without the cookie is asked for the token.
    const stranger = await browser.newContext();
    const other = await stranger.newPage();
    const asked: string[] = [];
    other.on("dialog", (d) => {
      asked.push(d.message());
      void d.accept(token);
    });
    await other.goto(base);
    await other.waitForSelector('[data-testid="palette-io.generator"]');
    expect(asked).toEqual(["This Evoflow runtime needs an access token:"]);
    await stranger.close();
  });
});
