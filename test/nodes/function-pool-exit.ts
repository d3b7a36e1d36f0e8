/**
 * Run by function.test.ts in a process of its own: a runtime whose transform.function code ran
 * in the worker pool (asked for, and moved there after a slow first run) answers, is closed,
 * and then must exit by itself. Prints the answers' payloads as JSON.
 */
import { tempDir } from "../agent/helpers";
import { Runtime } from "../../runtime/runtime";

const runtime = new Runtime({ dataDir: tempDir("function-pool-exit") });
const slowOnce = "const t = Date.now(); while (payload.i === 1 && Date.now() - t < 40) {} return { ...payload, inline: true };";
const running = await runtime.deploy({
  apiVersion: "evoflow/v1",
  name: "pool-exit",
  nodes: [
    { id: "h", type: "io.http" },
    { id: "w", type: "transform.function", config: { code: "return { ...payload, worker: true };", isolation: "worker" } },
    { id: "m", type: "transform.function", config: { code: slowOnce } },
  ],
  edges: [
    { from: "h.out", to: "w.in" },
    { from: "w.out", to: "m.in" },
  ],
});
const entry = running.entrypoints.get("pool-exit")!;
const answers: unknown[] = [];
for (const i of [1, 2]) answers.push(...(await entry.invoke({ i })).map((m) => m.payload));
await runtime.close();
console.log(JSON.stringify(answers));
