/**
 * The editor's export fills `requires` as `evoflow fmt` does, from the packages of the node types
 * the runtime serves (/api/nodes gives each type's package and range): a real `evoflow run` with
 * the example package (--nodes), a pipeline file imported in Chromium and exported, then checked
 * by the CLI's `fmt --check`: canonical, `requires` included.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evoflow, ROOT, startRun, type Server } from "../packages/cli";
import { ensureEditorBuilt, launch, pageErrors } from "./harness";

const EXAMPLE = join(ROOT, "examples/node-package");

describe("the editor's export", () => {
  let server: Server;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    await ensureEditorBuilt();
    dir = mkdtempSync(join(tmpdir(), "evoflow-requires-editor-"));
    server = await startRun([join(ROOT, "pipelines/hello-http.json"), "--nodes", EXAMPLE], join(dir, "data"));
    browser = await launch();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.stop();
  });

  it("fills requires from the packages of the types used, as evoflow fmt does", async () => {
    const { requires: _r, ...demo } = JSON.parse(readFileSync(join(EXAMPLE, "test/acme-demo.json"), "utf8"));
    // A package this runtime does not have stays as written: nothing here says it is unused.
    const file = join(dir, "acme-demo.json");
    writeFileSync(file, JSON.stringify({ ...demo, requires: { "evoflow-nodes-other": "^2.1.0" } }, null, 4));

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    const errors = pageErrors(page);
    await page.goto(`${server.url}/#token=${server.token}`);
    await page.waitForSelector('[data-testid="palette-acme.scale"]');
    await page.setInputFiles('[data-testid="import-file"]', file);
    await expect.poll(() => page.textContent('[data-testid="doc-name"]')).toBe("acme-demo");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export"]')]);
    const exported = readFileSync(await download.path(), "utf8");
    expect(JSON.parse(exported).requires).toEqual({ "evoflow-nodes-acme": "^1.0.0", "evoflow-nodes-other": "^2.1.0" });

    // Canonical as the CLI's fmt, requires included, sees it (the editor laid the nodes out: positions differ from the file).
    const written = join(dir, "exported.json");
    writeFileSync(written, exported);
    const check = evoflow(["fmt", "--check", "--nodes", EXAMPLE, written]);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(evoflow(["fmt", "--check", written]).status).toBe(0); // without the package, the entry stays too
    expect(errors).toEqual([]);
  });
});
