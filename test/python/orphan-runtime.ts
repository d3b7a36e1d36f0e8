/**
 * A runtime process for test/python/function.test.ts: starts a Python pool whose one call never
 * returns, prints the worker's pid once the call is in flight, and waits to be killed.
 */
import { createPythonWorkers } from "../../python/pool";

const pool = createPythonWorkers({ interpreter: process.env.EVOFLOW_PYTHON || undefined }).pool({
  source: { code: "def process(p, ctx):\n    while True:\n        pass\n", filename: "<stuck>" },
  function: "process",
  workers: 1,
  timeoutMs: 60_000,
  pipeline: "orphan",
  node: "stuck",
});
await pool.start();
void pool.call("spin").catch(() => {});
process.stdout.write(`${pool.pids()[0]}\n`);
setInterval(() => {}, 1000);
