/**
 * transform.function's code in a real Chromium: the field comes from the node's declaration
 * (its schema says `format: "code"`), is a CodeMirror editor with JavaScript highlighting, and
 * shows the runtime validator's syntax error (line and column) before any deploy, gone once fixed.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, dragFromPalette, ensureEditorBuilt, launch, pageErrors, serve, type Served } from "./harness";

describe("code field", () => {
  let served: Served;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    await ensureEditorBuilt();
    served = await serve();
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    errors = pageErrors(page);
    await page.goto(served.url);
    await page.waitForSelector('[data-testid="palette-transform.function"]');
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  const field = () => page.locator('[data-testid="field-code"]');
  const problem = () => page.locator('[data-field="code"] .field-problem');
  /** Replaces the editor's text as a paste would (no bracket closing on the way). */
  const replaceCode = async (code: string) => {
    await field().locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(code);
  };

  it("edits the code in CodeMirror with JavaScript highlighting", async () => {
    await dragFromPalette(page, "transform.function", 200, 200);
    const node = page.locator('[data-testid^="node-function"]').first();
    await node.click();
    await page.waitForSelector('[data-testid="node-panel"]');
    await field().locator(".cm-editor").waitFor();
    // The default is shown, not written: the box is empty with the default as its placeholder.
    expect(await field().locator(".cm-placeholder").textContent()).toBe("return payload;");
    await replaceCode("const doubled = payload.n * 2;\nreturn { doubled };");
    await expect.poll(() => field().locator(".cm-line").count()).toBe(2);
    expect(await field().locator(".cm-gutters").count()).toBe(1);
    // Keywords are coloured apart from names: the highlighter tagged them.
    const colours = await field().evaluate((el) => {
      const spans = [...el.querySelectorAll(".cm-line span")];
      const colourOf = (text: string) => {
        const span = spans.find((s) => s.textContent === text);
        return span ? getComputedStyle(span).color : undefined;
      };
      return { keyword: colourOf("const"), plain: getComputedStyle(el.querySelector(".cm-content")!).color };
    });
    expect(colours.keyword).toBeDefined();
    expect(colours.keyword).not.toBe(colours.plain);
    await expect.poll(() => problem().count(), { timeout: 10_000 }).toBe(0);
  });

  it("edits python.function's code with Python highlighting", async () => {
    await dragFromPalette(page, "python.function", 500, 420);
    // The second "function" node: the first is transform.function's.
    await page.locator('[data-testid="node-function2"]').click();
    const code = page.locator('[data-testid="node-panel"] [data-testid="field-code"]');
    await code.locator(".cm-editor").waitFor();
    await code.locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText("def process(payload, ctx):\n    return None");
    await expect.poll(() => code.locator(".cm-line").count()).toBe(2);
    const colours = await code.evaluate((el) => {
      const spans = [...el.querySelectorAll(".cm-line span")];
      const colourOf = (text: string) => {
        const span = spans.find((s) => s.textContent === text);
        return span ? getComputedStyle(span).color : undefined;
      };
      return { def: colourOf("def"), none: colourOf("None"), plain: getComputedStyle(el.querySelector(".cm-content")!).color };
    });
    expect(colours.def).toBeDefined();
    expect(colours.def).not.toBe(colours.plain);
    expect(colours.none).toBeDefined();
    // Back to transform.function for the next case.
    await page.locator('[data-testid="node-function"]').click();
    await field().locator(".cm-editor").waitFor();
  });

  it("shows a syntax error with its line before deploy, and clears it once fixed", async () => {
    await replaceCode("const a = 1;\nreturn a +;");
    await expect.poll(() => problem().first().textContent(), { timeout: 10_000 }).toMatch(/JavaScript syntax error at line 2, column \d+/);
    await expect.poll(() => page.locator('[data-testid^="node-function"]').first().getAttribute("class")).toContain("has-problems");
    await page.screenshot({ path: `${ARTIFACTS}/editor-code-error.png` });

    await replaceCode("const a = 1;\nreturn a + payload.n;");
    await expect.poll(() => problem().count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => page.locator('[data-testid^="node-function"]').first().getAttribute("class")).not.toContain("has-problems");
    expect(errors).toEqual([]);
  });
});
