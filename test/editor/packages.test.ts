/**
 * The palette manager and package nodes in a real Chromium against a real runtime granting
 * exec: install the example package's `npm pack` tarball from the page, see it listed with its
 * version and node types, then find its nodes in the palette with their declared colour and icon,
 * a package's own category as a group of its own, and each node's help and form made from its
 * declaration alone; uninstall from the page. The runtime is a real `evoflow serve` child: a
 * package's code is imported by Node itself, with the runtime's SDK (runtime/packages/sdk-hook.ts).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startRun, writePackage, type Server } from "../packages/cli";
import { ARTIFACTS, dragFromPalette, ensureEditorBuilt, launch, pageErrors } from "./harness";

describe("palette manager and package nodes", () => {
  let served: Server;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let tarball: string;

  beforeAll(async () => {
    await ensureEditorBuilt();
    const dataDir = join(mkdtempSync(join(tmpdir(), "evoflow-palette-")), "data");
    mkdirSync(dataDir, { recursive: true });
    // What the user installs must be inside the runtime's data folder.
    execFileSync("npm", ["pack", "--pack-destination", dataDir], { cwd: join(ROOT, "examples/node-package"), stdio: "pipe" });
    tarball = readdirSync(dataDir).find((f) => f.endsWith(".tgz"))!;
    // A package with a category of its own and no declared colour.
    writePackage(join(dataDir, "imaging"), { name: "evoflow-nodes-imaging", evoflow: { sdk: "^1.1", nodes: ["./index.js"] } }, []);
    writeFileSync(
      join(dataDir, "imaging/index.js"),
      `import { defineNode, port, z } from "evoflow/sdk";
export default defineNode({ type: "imaging.crop", category: "imaging", icon: "✂", title: "Crop", description: "Crops an image.",
  inputs: { in: port.tensor() }, outputs: { out: port.sameAs("in") },
  config: z.object({ size: z.number().int().min(1).default(24).describe("Side of the square kept, in pixels") }),
  create: () => ({}) });
`,
    );
    served = await startRun(["--grant", "exec,fs-write,network"], dataDir, dataDir, "serve");
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("dialog", (d) => void d.accept());
    errors = pageErrors(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    served?.stop();
  });

  it("installs the example tarball from the page and lists it with its version and node types", async () => {
    // The URL `evoflow serve` prints: the token becomes the editor's cookie.
    await page.goto(`${served.url}/?token=${served.token}#/packages`);
    await page.waitForSelector('[data-testid="package-@evoflow/nodes"]');
    expect(await page.locator('[data-testid="package-evoflow-nodes-acme"]').count()).toBe(0);
    await page.selectOption('[data-testid="install-kind"]', "tarball");
    await page.fill('[data-testid="install-spec"]', tarball);
    await page.click('[data-testid="install"]');
    const result = page.locator('[data-testid="manage-result"]');
    await result.waitFor({ timeout: 60_000 });
    expect(await result.textContent()).toContain("Installed evoflow-nodes-acme@1.0.0: adds acme.count, acme.scale.");
    expect(await page.locator('[data-testid="npm-output"]').textContent()).toContain("added 1 package");
    const card = page.locator('[data-testid="package-evoflow-nodes-acme"]');
    expect(await card.locator('[data-testid="package-version-evoflow-nodes-acme"]').textContent()).toBe("1.0.0");
    expect(await card.locator(".type-chip").allTextContents()).toEqual(["#Count acme.count", "×Scale acme.scale"]);
    await card.locator('[data-testid="type-acme.scale"]').click();
    expect(await card.locator('[data-testid="help-title"]').textContent()).toBe("Scale");
    await page.screenshot({ path: join(ARTIFACTS, "palette-manager.png") });
  }, 90_000);

  it("shows package nodes in the palette with their colour, icon and own category, and their help from the declaration", async () => {
    await page.selectOption('[data-testid="install-kind"]', "folder");
    await page.fill('[data-testid="install-spec"]', "imaging");
    await page.click('[data-testid="install"]');
    await expect.poll(() => page.locator('[data-testid="manage-result"]').textContent(), { timeout: 60_000 }).toContain("Installed evoflow-nodes-imaging@1.0.0: adds imaging.crop.");

    await page.click('a[href="#/"]');
    const scale = page.locator('[data-testid="palette-acme.scale"]');
    await scale.waitFor();
    expect(await scale.evaluate((el) => getComputedStyle(el).borderLeftColor)).toBe("rgb(112, 72, 232)"); // #7048e8, as declared
    expect(await scale.locator('[data-testid="icon-acme.scale"]').textContent()).toBe("×");
    // A category of the package's own: a group after Evoflow's, coloured from its name (node-red: the hosted Node-RED nodes).
    const groups = await page.locator(".palette h4").allTextContents();
    expect(groups.map((g) => g.replace(/[▾▸\s\d]+/g, " ").trim())).toEqual(["io", "transform", "model", "drift", "sampler", "trainer", "validator", "control", "connectors", "explain", "imaging", "node-red"]);
    const crop = page.locator('[data-testid="palette-imaging.crop"]');
    expect(await crop.evaluate((el) => getComputedStyle(el).borderLeftColor)).toMatch(/^rgb\(/);
    expect(await crop.evaluate((el) => getComputedStyle(el).borderLeftColor)).not.toBe("rgb(173, 181, 189)"); // not the grey of no category

    await page.click('[data-testid="help-acme.scale"]');
    const help = page.locator('[data-testid="node-help"]');
    expect(await help.locator('[data-testid="help-description"]').textContent()).toContain("by `factor`");
    const factor = help.locator('[data-testid="help-field-factor"]');
    expect(await factor.textContent()).toBe("factornumberdefault 2What values are multiplied by");
    expect(await help.locator('[data-testid="help-field-field"]').textContent()).toContain("The record field to scale when the payload is not a tensor");
    expect(await help.locator('[data-testid="help-port-inputs-in"]').textContent()).toBe("in: any");
    expect(await help.locator('[data-testid="help-port-outputs-out"]').textContent()).toBe("out: sameAs(in)");
    expect(JSON.parse((await help.locator('[data-testid="help-example"]').textContent())!)).toEqual({ id: "scale", type: "acme.scale", config: { factor: 3 } });
    expect(await help.locator('[data-testid="help-example-output"]').textContent()).toBe('{"value":6}');
    await page.screenshot({ path: join(ARTIFACTS, "palette-package-help.png") });
    await page.click('[data-testid="help-close"]');
    expect(await page.locator('[data-testid="node-help"]').count()).toBe(0);
  }, 90_000);

  it("gives a package node on the canvas its look, its form and its help", async () => {
    await dragFromPalette(page, "acme.scale", 400, 300);
    const node = page.locator('[data-testid^="node-scale"]').first();
    await node.waitFor();
    expect(await node.evaluate((el) => getComputedStyle(el).borderLeftColor)).toBe("rgb(112, 72, 232)");
    expect(await node.locator(".node-icon").textContent()).toBe("×");
    await node.click();
    const panel = page.locator('[data-testid="node-panel"]');
    await panel.waitFor();
    expect(await panel.locator('[data-testid="field-factor"]').inputValue()).toBe("");
    expect(await panel.locator('[data-testid="field-factor"]').getAttribute("placeholder")).toBe("2");
    expect(await panel.locator('[data-field="factor"]').textContent()).toContain("What values are multiplied by");
    await panel.locator('[data-testid="node-panel-help"] summary').click();
    expect(await panel.locator('[data-testid="help-title"]').textContent()).toBe("Scale");
    await page.screenshot({ path: join(ARTIFACTS, "palette-package-node.png") });
  }, 60_000);

  it("uninstalls from the page, and the type leaves the palette", async () => {
    await page.click('[data-testid="open-palette-manager"]');
    await page.click('[data-testid="uninstall-evoflow-nodes-acme"]');
    await expect.poll(() => page.locator('[data-testid="manage-result"]').textContent(), { timeout: 60_000 }).toContain("Uninstalled evoflow-nodes-acme: acme.count, acme.scale are gone.");
    // The list is read again after the result is shown.
    await expect.poll(() => page.locator('[data-testid="package-evoflow-nodes-acme"]').count(), { timeout: 10_000 }).toBe(0);
    await page.click('a[href="#/"]');
    await page.waitForSelector('[data-testid="palette-imaging.crop"]');
    // The editor loads the node types again when it is opened.
    await expect.poll(() => page.locator('[data-testid="palette-acme.scale"]').count(), { timeout: 10_000 }).toBe(0);
    expect(errors).toEqual([]);
  }, 60_000);
});
