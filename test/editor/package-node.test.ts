/**
 * A node type from a node package looks and behaves on the canvas like Evoflow's own: palette
 * entry, node with its ports, title, a colour for its own category, and a property form, all from
 * its declaration alone (the declaration is made here with the public SDK, as a package makes it).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeTypes, nodeTypes as builtins } from "../../runtime/node-types";
import { defineNode, port, z } from "../../sdk";
import { ARTIFACTS, dragFromPalette, handle, openEditor, type OpenEditor } from "./harness";

const resize = defineNode({
  type: "acme.resize",
  // A category of the package's own (the SDK's list opens to any short name with the manage work; cast until then).
  category: "vision" as "io",
  title: "Resize image",
  description: "Scales an image tensor to width × height.",
  inputs: { image: port.tensor({ dtype: "float32" }) },
  outputs: { resized: port.tensor({ dtype: "float32" }), skipped: port.any() },
  config: z.object({ width: z.number().int().min(1).default(28).describe("Width after resizing, pixels"), height: z.number().int().min(1).default(28) }),
  create: () => ({ onMessage: () => undefined }),
});

describe("a package's node in the editor", () => {
  let editor: OpenEditor;
  let page: Page;

  beforeAll(async () => {
    editor = await openEditor({ nodeTypes: new NodeTypes([...builtins.list(), resize]) });
    page = editor.page;
  });

  afterAll(() => editor?.close());

  it("renders with its ports, title, a colour of its category and a form, from its declaration alone", async () => {
    await dragFromPalette(page, "acme.resize", 400, 300);
    await dragFromPalette(page, "transform.set", 700, 300);
    const theirs = page.locator('.react-flow__node[data-id^="resize"] .flow-node');
    const ours = page.locator('.react-flow__node[data-id^="set"] .flow-node');
    await theirs.waitFor();
    expect(await theirs.locator(".flow-node-type").textContent()).toBe("Resize image");
    const id = (await page.locator('.react-flow__node[data-id^="resize"]').getAttribute("data-id"))!;
    for (const [p, side] of [["image", "target"], ["resized", "source"], ["skipped", "source"]] as const) expect(await page.locator(handle(id, p, side)).count()).toBe(1);
    const look = (l: typeof ours) => l.evaluate((el) => ({ border: getComputedStyle(el).borderLeftColor, width: el.getBoundingClientRect().width }));
    const [mine, builtin] = [await look(theirs), await look(ours)];
    expect(mine.width).toBe(builtin.width);
    // Not the grey of a node without category: a colour of its own, unlike the transform's.
    expect(mine.border).not.toBe("rgb(173, 181, 189)");
    expect(mine.border).not.toBe(builtin.border);

    await theirs.click();
    await page.waitForSelector('[data-testid="node-panel"]');
    // The default shows as the field's placeholder, as for built-in nodes.
    expect(await page.locator('[data-testid="field-width"]').getAttribute("placeholder")).toBe("28");
    expect(await page.locator('label[title="Width after resizing, pixels"]').count()).toBe(1);
    await page.screenshot({ path: `${ARTIFACTS}/package-node.png` });
    expect(editor.errors).toEqual([]);
  });
});
