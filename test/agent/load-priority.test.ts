/**
 * Loads in session workers run in Linux's idle scheduling class, and the loading thread (and
 * any thread started meanwhile) is back in the normal class once its model's first run is
 * done, or `idleLoadLimitMs` after the load began: watched from /proc while real onnxruntime
 * loads run, not from the backend's own bookkeeping. The nice-value variant:
 * load-priority-nice.test.ts, in a process of its own.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { IdleClass, schedulingPolicyOf } from "../../gpu-agent/idle-class";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { makeMlp, randomFloats } from "../fixtures/mlp";
import { expectClose, mlpFamily, sampleInput, tempDir, threads, watchWhile } from "./helpers";

const SCHED_IDLE = 5;
const hosts: ModelHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

// A model whose load takes long enough (tens of ms) to be watched while it runs.
const big = makeMlp({ sizes: [1024, 2048, 2048, 2048, 10], seed: 5 });
const small = mlpFamily(2);

// The default load priority: the idle class.
function newHost(idleLoadLimitMs?: number) {
  const backend = new OnnxRuntimeBackend({ executionProvider: "cpu", workers: 3, idleLoadLimitMs });
  const host = new ModelHost({ backend, memoryBytes: 1e9, cacheDir: tempDir("priority") });
  hosts.push(host);
  return host;
}

describe.runIf(process.platform === "linux")("session workers load in the idle scheduling class", () => {
  it("the helper moves a thread into the idle class and back", async () => {
    const idle = await IdleClass.start();
    expect(idle, "needs python3 and the right to take a thread out of the idle class").toBeDefined();
    const tid = Number(readFileSync("/proc/thread-self/stat", "utf8").split(" ")[0]);
    try {
      await idle!.set(tid, "idle");
      expect(await schedulingPolicyOf(tid)).toBe(SCHED_IDLE);
      await idle!.set(tid, "other");
      expect(await schedulingPolicyOf(tid)).toBe(0);
      await expect(idle!.set(2 ** 22 + 1, "idle")).rejects.toThrow(/sched_setscheduler failed/);
    } finally {
      idle!.close();
    }
  });

  it("a load runs in the idle class until its model's first run, then its worker serves at the normal class, and answers are right", async () => {
    const host = newHost(10_000);
    await host.assign({ name: "big", version: 1, artifact: big.bytes });
    await host.assign({ name: "small", version: 1, artifact: small[0].bytes });
    // Loaded with no request waiting: its worker stays in the class (and nothing else does) until the model runs.
    await host.warm("small", 1);
    expect(threads().filter((t) => t.policy === SCHED_IDLE)).toHaveLength(1);
    const s = sampleInput(small[0], 1, 0);
    expectClose((await host.infer("small", 1, { input: { dtype: "float32", shape: [1, 8], data: s } })).output.data as Float32Array, small[0].forward(s, 1));
    expect(threads().filter((t) => t.policy === SCHED_IDLE || t.nice === 19)).toEqual([]);

    const seen = await watchWhile(host.warm("big", 1), () => threads().filter((t) => t.policy === SCHED_IDLE));
    expect(seen.length).toBeGreaterThan(0);
    const x = randomFloats(1024, 3);
    const out = await host.infer("big", 1, { input: { dtype: "float32", shape: [1, 1024], data: x } });
    expectClose(out.output.data as Float32Array, big.forward(x, 1), 1e-3);
    expect(threads().filter((t) => t.policy === SCHED_IDLE || t.nice === 19)).toEqual([]);
  }, 60_000);

  it("a model loaded and not run leaves the idle class after idleLoadLimitMs", async () => {
    const host = newHost(50);
    await host.assign({ name: "small", version: 1, artifact: small[0].bytes });
    await host.warm("small", 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(threads().filter((t) => t.policy === SCHED_IDLE || t.nice === 19)).toEqual([]);
  }, 60_000);

  it("a resident model answers while another model loads (the load does not hold it up)", async () => {
    const host = newHost();
    await host.assign({ name: "big", version: 1, artifact: big.bytes });
    await host.assign({ name: "small", version: 1, artifact: small[1].bytes });
    await host.warm("small", 1);
    let loaded = false;
    const loading = host.warm("big", 1).then(() => (loaded = true));
    const answeredDuringLoad: boolean[] = [];
    for (let n = 0; n < 5; n++) {
      const x = sampleInput(small[1], 1, n);
      const out = await host.infer("small", 1, { input: { dtype: "float32", shape: [1, 8], data: x } });
      expectClose(out.output.data as Float32Array, small[1].forward(x, 1));
      answeredDuringLoad.push(!loaded);
    }
    await loading;
    expect(answeredDuringLoad).toEqual([true, true, true, true, true]);
  }, 60_000);

  it("a load still running after idleLoadLimitMs (cores kept busy by other threads) goes on at the normal class, at nice 19", async () => {
    const host = newHost(50);
    await host.assign({ name: "big", version: 1, artifact: big.bytes });
    await host.assign({ name: "small", version: 1, artifact: small[0].bytes });
    // The helper is running, and after its first run the small model's worker is out of the class: the watched load is the big model's.
    await host.warm("small", 1);
    await host.infer("small", 1, { input: { dtype: "float32", shape: [1, 8], data: sampleInput(small[0], 1, 0) } });
    // A busy thread per core at the normal class: an idle-class load gets next to no CPU until promoted.
    const stopSpinning = spin(cpus().length);
    let loader: number | undefined;
    try {
      const seen = await watchWhile(host.warm("big", 1), () => {
        const now = threads();
        loader ??= now.find((t) => t.policy === SCHED_IDLE)?.tid;
        // The loading thread in the normal class, at nice 19 and running: promoted mid-load (once done it sleeps, waiting for messages).
        return now.filter((t) => t.tid === loader && t.policy === 0 && t.nice === 19 && t.state === "R");
      });
      expect(loader).toBeDefined();
      expect(seen.length).toBeGreaterThan(0);
    } finally {
      await stopSpinning();
    }
    expect(threads().filter((t) => t.policy === SCHED_IDLE)).toEqual([]);
  }, 60_000);
});

/** `count` worker threads spinning until the returned function is called (or 30 s pass). */
function spin(count: number): () => Promise<void> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const code = `const { workerData } = require("node:worker_threads"); const flag = new Int32Array(workerData); const end = Date.now() + 30000; while (Atomics.load(flag, 0) === 0 && Date.now() < end);`;
  const spinners = Array.from({ length: count }, () => new Worker(code, { eval: true, workerData: stop.buffer }));
  return async () => {
    Atomics.store(stop, 0, 1);
    await Promise.all(spinners.map((w) => w.terminate()));
  };
}
