/**
 * python.function's worker status on the node in the editor (real Chromium, real python3): workers
 * up and restarts, and the last failure's first line in red until a call succeeds again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPythonWorkers } from "../../python/pool";
import { ARTIFACTS, openEditor, type OpenEditor } from "./harness";

let editor: OpenEditor;
beforeAll(async () => {
  editor = await openEditor({ grants: ["exec"], services: { python: createPythonWorkers({ interpreter: process.env.EVOFLOW_PYTHON || undefined }) } });
}, 60_000);
afterAll(() => editor?.close());

describe("python.function's status in the editor", () => {
  it("shows its workers, and the last traceback's first line while the last call failed", async () => {
    const running = await editor.served.runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "py-status",
      nodes: [
        { id: "h", type: "io.http", position: { x: 0, y: 0 } },
        { id: "py", type: "python.function", position: { x: 320, y: 0 }, config: { code: "def process(p, ctx):\n    return 1 / p['d']\n" } },
      ],
      edges: [{ from: "h.out", to: "py.in" }],
    });
    const { page } = editor;
    await page.goto(`${editor.served.url}/#/pipelines/py-status`);
    const invoke = (d: number) => running.entrypoints.get("py-status")!.invoke({ d }).catch(() => undefined);
    await invoke(2);
    const status = page.locator('[data-testid="own-status-py"]');
    const dot = () => status.locator(".status-dot").evaluate((el) => getComputedStyle(el).backgroundColor);
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe("1/1 up");
    expect(await dot()).toBe("rgb(85, 170, 136)"); // green
    await invoke(0);
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe("1/1 up · function process raised ZeroDivisionError: division by zero");
    expect(await dot()).toBe("rgb(204, 0, 0)"); // red
    await page.screenshot({ path: `${ARTIFACTS}/python-status.png` });
    await invoke(4);
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe("1/1 up");
    expect(editor.errors).toEqual([]);
  });
});
