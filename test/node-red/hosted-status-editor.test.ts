/**
 * A hosted Node-RED node's `node.status(…)` shown on the node in the editor (real Chromium), as
 * Node-RED's editor shows it: a dot of its fill colour and its text, updated live.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, openEditor, type OpenEditor } from "../editor/harness";

let editor: OpenEditor;
beforeAll(async () => {
  editor = await openEditor({ grants: ["exec"] });
}, 60_000);
afterAll(() => editor?.close());

describe("a hosted Node-RED node's status in the editor", () => {
  it("shows the status its node sets, under the node", async () => {
    const running = await editor.served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "nr-status",
      nodes: [
        { id: "h", type: "io.http", position: { x: 0, y: 0 } },
        { id: "counter", type: "node-red.function", position: { x: 320, y: 0 }, config: { func: "const n = (context.get('n') || 0) + 1;\ncontext.set('n', n);\nnode.status({ fill: n > 1 ? 'green' : 'yellow', shape: 'dot', text: 'seen ' + n });\nreturn msg;" } },
      ],
      edges: [{ from: "h.out", to: "counter.in" }],
    });
    const { page } = editor;
    await page.goto(`${editor.served.url}/#/pipelines/nr-status`);
    await running.entrypoints.get("nr-status")!.invoke({ x: 1 });
    const status = page.locator('[data-testid="own-status-counter"]');
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe("seen 1");
    expect(await status.locator(".status-dot").evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(249, 223, 49)"); // Node-RED's yellow
    await running.entrypoints.get("nr-status")!.invoke({ x: 2 });
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe("seen 2");
    expect(await status.locator(".status-dot").evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(85, 170, 136)"); // green
    await page.screenshot({ path: `${ARTIFACTS}/node-red-hosted-status.png` });
    expect(editor.errors).toEqual([]);
  });
});
