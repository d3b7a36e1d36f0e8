/**
 * A Python worker is another process: the CPU its calls use is read from its /proc/<pid>/stat
 * and charged to the python.function node in /metrics, beside what the engine measures here.
 * The function burns a known amount of CPU (a loop on Python's own process clock), 30 ms a call.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createPythonWorkers } from "../../python/pool";
import { Runtime } from "../../runtime/runtime";

let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
});

describe("Python workers' CPU", () => {
  it("is charged to the python.function node, from the worker process's own counters", async () => {
    runtime = new Runtime({ grants: ["exec", "fs-write"], services: { python: createPythonWorkers({ interpreter: process.env.EVOFLOW_PYTHON || undefined }) }, dataDir: mkdtempSync(path.join(tmpdir(), "evoflow-pycpu-")) });
    const code = ["import time", "def process(payload, ctx):", "    end = time.process_time() + 0.03", "    while time.process_time() < end:", "        pass", "    return payload"].join("\n");
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "py",
      nodes: [
        { id: "in", type: "io.http" },
        { id: "burn", type: "python.function", config: { code } },
        { id: "out", type: "io.sink" },
      ],
      edges: [
        { from: "in.out", to: "burn.in", mode: "sync" },
        { from: "burn.out", to: "out.in", mode: "sync" },
      ],
    });
    const entry = running.entrypoints.get("py")!;
    for (let i = 0; i < 10; i++) await entry.invoke({ i });
    const text = await runtime.metrics.text();
    const line = text.split("\n").find((l) => l.startsWith('evoflow_node_cpu_seconds_total{pipeline="py",node="burn"}'))!;
    const charged = Number(line.split(" ").at(-1));
    // 10 × 30 ms in Python; /proc counts in 10 ms ticks, exact to one tick over all the calls.
    expect(charged).toBeGreaterThan(0.3 - 0.02);
    expect(charged).toBeLessThan(0.3 * 1.25);
  });
});
