/**
 * The editor's import of a pasted Node-RED flows.json, in Chromium against a real runtime: the
 * report shows the subflow, the link pair and the unknown node type; the chosen tab opens on the
 * canvas at Node-RED's positions; its export is byte for byte the file `evoflow import` writes.
 * The route answers only with a token and a same-origin request, as every API route does.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { Runtime } from "../../runtime/runtime";
import { evoflowOnce } from "../nats/cli";
import { ARTIFACTS, ensureEditorBuilt, launch, pageErrors } from "./harness";

const FLOWS = join(import.meta.dirname, "../integrations/node-red-flows/subflow-link-unknown.json");
const VIEWER = "node-red-import-viewer-token";

describe("the editor's Node-RED import", () => {
  let browser: Browser;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    await ensureEditorBuilt();
    const runtime = new Runtime();
    // A viewer's token: the import changes nothing on the server.
    const app = await createApi({ runtime, auth: { tokens: { [VIEWER]: "viewer" } } });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
    close = async () => {
      await app.close();
      await runtime.close();
    };
    browser = await launch();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await close?.();
  });

  it("asks for the token, the Host and the Origin as every route does", async () => {
    const body = readFileSync(FLOWS, "utf8");
    const post = (headers: Record<string, string>) => fetch(`${url}/api/import/node-red`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: `Bearer ${VIEWER}`, origin: "https://evil.example.com" })).status).toBe(403);
    const ok = await post({ authorization: `Bearer ${VIEWER}` });
    expect(ok.status).toBe(200);
    const answer = (await ok.json()) as { pipelines: { name: string; problems: unknown[] }[] };
    expect(answer.pipelines.map((p) => [p.name, p.problems])).toEqual([["scoring-service", []], ["other-tab", []]]);
    const bad = await fetch(`${url}/api/import/node-red`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${VIEWER}` }, body: "{}" });
    expect([bad.status, await bad.json()]).toEqual([400, { error: "not a Node-RED flows.json", problems: [{ path: "$", message: "a flows.json is an array of nodes" }] }]);
  });

  it("converts a pasted flows.json, reports each node and opens a tab on the canvas", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    const errors = pageErrors(page);
    await page.goto(`${url}/#token=${VIEWER}`);
    await page.waitForSelector('[data-testid="palette-control.switch"]');
    await page.click('[data-testid="import-node-red"]');
    await page.fill('[data-testid="node-red-flows"]', "[not json");
    await page.click('[data-testid="node-red-convert"]');
    await expect.poll(() => page.textContent('[data-testid="node-red-error"]')).toContain("Not JSON");
    await page.fill('[data-testid="node-red-flows"]', readFileSync(FLOWS, "utf8"));
    await page.click('[data-testid="node-red-convert"]');
    const report = page.locator('[data-testid="node-red-report"]');
    await expect.poll(() => report.textContent()).toContain('subflow "Tag it" inlined');
    const text = (await report.textContent()) ?? "";
    expect(text).toContain("link inresolved");
    expect(text).toContain("links to another tab");
    expect(text).toContain('acme-widget "acme"not carried');
    await page.screenshot({ path: `${ARTIFACTS}/node-red-import-report.png` });
    await page.click('[data-testid="node-red-open"]');
    await expect.poll(() => page.textContent('[data-testid="doc-name"]')).toBe("scoring-service");
    expect(await page.locator(".react-flow__node").count()).toBe(5);
    await page.screenshot({ path: `${ARTIFACTS}/node-red-import-canvas.png` });

    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export"]')]);
    const exported = readFileSync(await download.path(), "utf8");
    const dir = mkdtempSync(join(tmpdir(), "node-red-import-editor-"));
    expect((await evoflowOnce(["import", FLOWS, "--out", dir])).code).toBe(0);
    expect(exported).toBe(readFileSync(join(dir, "scoring-service.json"), "utf8"));
    expect(errors).toEqual([]);
  });
});
