/**
 * The Python worker pool on its own (python/pool.ts), as the agent's Python models will use it:
 * a setup function run once per worker with its argument (a model loaded into ctx.state before
 * any call, again in a replacement), a setup that raises failing the start with its traceback,
 * each worker's RSS for a memory budget, one math thread a worker by default, calls written ahead to a
 * single worker surviving its death and its time limit, and close() ending every process.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createPythonWorkers } from "../../python/pool";
import { PythonError, type PythonPool, type PythonPoolOptions, type Tensor } from "../../sdk";
import { alive } from "../fixtures/alive";

let pool: PythonPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const MODEL = `
import os
import numpy as np
def load(weights, ctx):
    ctx.state["w"] = weights
    ctx.state["loads"] = ctx.state.get("loads", 0) + 1
def predict(x, ctx):
    return {"y": x @ ctx.state["w"], "pid": os.getpid(), "loads": ctx.state["loads"]}
`;

const poolOf = (options: Partial<PythonPoolOptions>) =>
  (pool = createPythonWorkers({ interpreter: process.env.EVOFLOW_PYTHON || undefined }).pool({
    source: { code: MODEL, filename: "<model>" },
    function: "predict",
    workers: 1,
    timeoutMs: 5000,
    pipeline: "p",
    node: "model",
    ...options,
  }));

describe("the Python worker pool", () => {
  it("hands queued calls to the worker as each call ends: eight at once on one worker all answer, in order", async () => {
    const p = poolOf({ source: { code: "def f(x, ctx):\n    return x * 2\n", filename: "<double>" }, function: "f" });
    await p.start();
    const answers = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((i) => p.call(i)));
    expect(answers.map((a) => a.value)).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
    expect(p.status()).toMatchObject({ busy: 0, queued: 0 });
  });

  it("one worker is written the next call while it runs one: when it dies, the calls behind go to its replacement, in order, each with its own time", async () => {
    const code = "import os, time\ndef f(x, ctx):\n    if x == 'die':\n        time.sleep(0.3)\n        os._exit(3)\n    if x == 'stuck':\n        time.sleep(30)\n    time.sleep(0.6 if x == 'slow' else 0)\n    return [x, os.getpid()]\n";
    const p = poolOf({ source: { code, filename: "<die>" }, function: "f", timeoutMs: 1500 });
    await p.start();
    const first = p.pids()[0];
    const [died, a, b] = await Promise.allSettled([p.call("die"), p.call("a"), p.call("b")]);
    expect(died).toMatchObject({ status: "rejected", reason: { kind: "died" } });
    const values = [a, b].map((r) => (r as PromiseFulfilledResult<{ value: [string, number] }>).value.value);
    expect(values.map((v) => v[0])).toEqual(["a", "b"]);
    expect(values[0][1]).not.toBe(first);
    // A call written behind a stuck one starts its time limit when it starts, not when written.
    const [stuck, slow] = await Promise.allSettled([p.call("stuck"), p.call("slow")]);
    expect(stuck).toMatchObject({ status: "rejected", reason: { kind: "time" } });
    expect(slow).toMatchObject({ status: "fulfilled", value: { value: ["slow", expect.any(Number)] } });
    expect(p.status()).toMatchObject({ restarts: 2, busy: 0, queued: 0 });
  });

  it("gives each worker one BLAS/OpenMP thread unless the environment names a number", async () => {
    const threads = "import os\ndef f(x, ctx):\n    return [os.environ.get(k) for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')]\n";
    const p = poolOf({ source: { code: threads, filename: "<threads>" }, function: "f" });
    await p.start();
    const names = ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"];
    expect((await p.call(null)).value).toEqual(names.map((k) => process.env[k] ?? "1"));
    await p.close();
    const before = process.env.OMP_NUM_THREADS;
    process.env.OMP_NUM_THREADS = "3";
    try {
      const q = poolOf({ source: { code: threads, filename: "<threads>" }, function: "f" });
      await q.start();
      expect((await q.call(null)).value).toEqual(names.map((k) => (k === "OMP_NUM_THREADS" ? "3" : (process.env[k] ?? "1"))));
    } finally {
      if (before === undefined) delete process.env.OMP_NUM_THREADS;
      else process.env.OMP_NUM_THREADS = before;
    }
  });

  it("runs setup once per worker with its argument before any call, and again in a replacement", async () => {
    const weights: Tensor = { dtype: "float32", shape: [2, 1], data: new Float32Array([2, 3]) };
    const p = poolOf({ setup: { function: "load", argument: weights } });
    await p.start();
    const x: Tensor = { dtype: "float32", shape: [1, 2], data: new Float32Array([1, 1]) };
    const first = (await p.call(x)).value as { y: Tensor; pid: number; loads: number };
    expect([[...(first.y.data as Float32Array)], first.loads]).toEqual([[5], 1]);
    process.kill(first.pid, "SIGKILL");
    for (let i = 0; i < 100 && p.status().up === 1 && p.pids()[0] === first.pid; i++) await new Promise((r) => setTimeout(r, 20));
    const again = (await p.call(x)).value as { y: Tensor; pid: number; loads: number };
    expect([again.pid === first.pid, [...(again.y.data as Float32Array)], again.loads]).toEqual([false, [5], 1]);
    expect(p.status().restarts).toBe(1);
  });

  it("fails to start when setup raises, with the traceback", async () => {
    const err = await poolOf({ setup: { function: "load", argument: "not a tensor" }, source: { code: "def load(w, ctx):\n    raise ValueError(f'bad weights: {w}')\ndef predict(x, ctx):\n    return x\n", filename: "<model>" } })
      .start()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PythonError);
    expect([(err as PythonError).kind, (err as PythonError).message]).toEqual(["load", "the inline code of node \"model\" did not load: ValueError: bad weights: not a tensor"]);
    expect((err as PythonError).traceback).toContain('File "<model>", line 2, in load');
  });

  it("reports each worker's RSS, and close() ends them all", async () => {
    const p = poolOf({ workers: 2 });
    await p.start();
    const pids = p.pids();
    expect(new Set(pids).size).toBe(2);
    const rss = p.rssBytes();
    expect(rss).toHaveLength(2);
    // numpy imported: tens of MB each, far under a gigabyte.
    for (const bytes of rss) expect(bytes).toBeGreaterThan(10e6), expect(bytes).toBeLessThan(1e9);
    await p.close();
    expect(pids.map(alive)).toEqual([false, false]);
    await expect(p.call(1)).rejects.toThrow(/are stopped/);
  });
});
