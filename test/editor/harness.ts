/**
 * Shared setup of the browser tests: the built editor (built here when
 * editor/dist is missing, so `npx vitest run test/editor` works alone), a real
 * runtime with the HTTP API serving it, and Debian's Chromium.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { build } from "vite";
import { EDITOR_DIST } from "../../runtime/api/editor";
import { createApi } from "../../runtime/api/server";
import { Runtime, type RuntimeOptions } from "../../runtime/runtime";

export const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts", import.meta.url));

export async function ensureEditorBuilt(): Promise<void> {
  if (existsSync(`${EDITOR_DIST}/index.html`)) return;
  // Build beside and rename, so test files starting in parallel never serve a half-written folder.
  const temp = `${EDITOR_DIST}.${process.pid}`;
  await build({ configFile: fileURLToPath(new URL("../../editor/vite.config.ts", import.meta.url)), logLevel: "warn", build: { outDir: temp } });
  try {
    renameSync(temp, EDITOR_DIST);
  } catch {
    rmSync(temp, { recursive: true, force: true }); // another test file built it first
  }
}

export interface Served {
  url: string;
  runtime: Runtime;
  close(): Promise<void>;
}

export async function serve(options: { token?: string; runtime?: RuntimeOptions } = {}): Promise<Served> {
  const runtime = new Runtime(options.runtime);
  const app = await createApi({ runtime, auth: options.token ? { tokens: { [options.token]: "operator" } } : undefined });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url,
    runtime,
    close: async () => {
      await app.close();
      await runtime.close();
    },
  };
}

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
}

/** Collects uncaught page errors, so a test can assert the page never threw. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

/** Drags a node type from the palette onto the canvas (HTML5 drag and drop), at a point of the canvas. */
export async function dragFromPalette(page: Page, type: string, x: number, y: number): Promise<void> {
  await page.dragAndDrop(`[data-testid="palette-${type}"]`, '[data-testid="canvas"]', { targetPosition: { x, y } });
}

export const handle = (node: string, port: string, side: "source" | "target") =>
  `.react-flow__handle.${side}[data-nodeid="${node}"][data-handleid="${port}"]`;

/** Drags from an output handle to an input handle with the mouse, as a user wires two ports. */
export async function connect(page: Page, from: string, fromPort: string, to: string, toPort: string): Promise<void> {
  const a = await page.locator(handle(from, fromPort, "source")).boundingBox();
  const b = await page.locator(handle(to, toPort, "target")).boundingBox();
  if (!a || !b) throw new Error(`handle ${from}.${fromPort} or ${to}.${toPort} is not on screen`);
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

export interface OpenEditor {
  served: Served;
  browser: Browser;
  page: Page;
  /** Uncaught page errors so far. */
  errors: string[];
  close(): Promise<void>;
}

/** A runtime in a fresh data folder serving the built editor, open in Chromium at 1400×900. */
export async function openEditor(runtime: RuntimeOptions = {}): Promise<OpenEditor> {
  await ensureEditorBuilt();
  const served = await serve({ runtime: { dataDir: mkdtempSync(join(tmpdir(), "evoflow-editor-")), ...runtime } });
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = pageErrors(page);
  await page.goto(served.url);
  return {
    served,
    browser,
    page,
    errors,
    close: async () => {
      await browser.close();
      await served.close();
    },
  };
}
