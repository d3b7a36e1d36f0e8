/**
 * The windows kept for root-cause analysis (runtime/alarm-windows.ts) on a real pipeline: only
 * edges upstream of a drift node keep them, within `settings.rca`, and each alarm keeps a copy
 * that later traffic does not move, plus the messages that came after it.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningPipeline } from "../../runtime/engine/engine";
import { Runtime } from "../../runtime/runtime";
import { validatePipeline } from "../../runtime/validate";
import { nodeTypes } from "../../runtime/node-types";

let runtime: Runtime;
beforeEach(() => {
  runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-alarm-windows-")) });
});
afterEach(async () => {
  await runtime.close();
});

const pipeline = (rca?: Record<string, number>) => ({
  apiVersion: "evoflow/v1",
  name: "windows",
  ...(rca && { settings: { rca } }),
  nodes: [
    { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 1000, features: 1, seed: 2, shiftAt: 200, shift: 3 } } },
    { id: "A", type: "transform.jsonata", config: { expression: "x[0]" } },
    // keep-reference: every window after the shift drifts, so the detector fires several times.
    { id: "detector", type: "drift.ks", config: { value: "payload", referenceSize: 100, window: 100, afterDrift: "keep-reference" } },
    { id: "side", type: "transform.jsonata", config: { expression: "i" } },
  ],
  edges: [
    { from: "gen.out", to: "A.in" },
    { from: "A.out", to: "detector.in" },
    { from: "gen.out", to: "side.in" },
  ],
});

async function finished(running: RunningPipeline): Promise<void> {
  while (!(running.status().nodes.gen as { done?: boolean }).done) await new Promise((r) => setTimeout(r, 10));
  await running.idle();
}

describe("alarm windows", () => {
  it("keeps rings only upstream of drift nodes, the last `alarms` alarms, each with the windows as they were when it fired", async () => {
    const running = await runtime.deploy(pipeline({ capacity: 300, alarms: 3 }));
    await finished(running);
    expect(running.alarms.window("gen_out-A_in")).toBeDefined();
    expect(running.alarms.window("A_out-detector_in")?.ring.capacity).toBe(300);
    expect(running.alarms.window("gen_out-side_in")).toBeUndefined();
    const alarms = running.alarms.list();
    // Windows 200–299 … 900–999 drift: 8 alarms, the last 3 kept.
    expect(alarms).toHaveLength(3);
    expect(alarms.map((a) => a.edges)).toEqual(Array(3).fill(["A_out-detector_in", "gen_out-A_in"]));
    const first = running.alarms.get(alarms[0].id)!;
    const gen = first.recorded.find((e) => e.id === "gen_out-A_in")!;
    // Fired at message 799 (the 6th alarm): the ring held messages 500–799 then, and still does in the copy.
    expect(gen.messages.map((m) => (m.payload as { i: number }).i)).toEqual(Array.from({ length: 300 }, (_, k) => 500 + k));
    expect(gen.older).toBe(500);
    // And it collected what came after it: messages 800–999, the generator's last.
    expect(gen.later.map((m) => (m.payload as { i: number }).i)).toEqual(Array.from({ length: 200 }, (_, k) => 800 + k));
    expect(running.alarms.window("gen_out-A_in")!.ring.toArray().at(-1)?.payload).toMatchObject({ i: 999 });
    expect(runtime.alarm(alarms[0].id)).toBe(first);
  });

  it("capacity 0 keeps no window, yet lists the alarms", async () => {
    const running = await runtime.deploy(pipeline({ capacity: 0 }));
    await finished(running);
    expect(running.alarms.window("gen_out-A_in")).toBeUndefined();
    const [alarm] = running.alarms.list();
    expect(running.alarms.get(alarm.id)?.recorded).toEqual([]);
  });

  it("refuses settings beyond their bounds at their JSON path", () => {
    const result = validatePipeline(pipeline({ capacity: 1e9, alarms: 5000 }), nodeTypes);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.path).sort()).toEqual(["$.settings.rca.alarms", "$.settings.rca.capacity"]);
  });
});
