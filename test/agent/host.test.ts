import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CapacityError, ModelHost, ModelNotFoundError } from "../../gpu-agent/host";
import { parseSize } from "../../gpu-agent/sizes";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { TensorInputError } from "../../gpu-agent/tensors";
import { buildOnnxModel } from "../../onnx/build";
import { makeMlp, randomFloats, seededRandom } from "../fixtures/mlp";
import { expectClose, mlpFamily, sampleInput, tempDir, WatchedBackend, zipfSampler } from "./helpers";

const MB = 1024 * 1024;
const hosts: ModelHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

function newHost(options: { budgetModels: number; waitTimeoutMs?: number; workers?: number; maxConcurrentLoads?: number; prepackWeights?: boolean }) {
  const ort = new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1, workers: options.workers, prepackWeights: options.prepackWeights });
  const backend = new WatchedBackend(ort);
  const cacheDir = tempDir("host");
  const host = new ModelHost({ backend, memoryBytes: options.budgetModels * MB, cacheDir, waitTimeoutMs: options.waitTimeoutMs, maxConcurrentLoads: options.maxConcurrentLoads });
  hosts.push(host);
  return { host, backend, ort, cacheDir };
}

describe("parseSize", () => {
  it("reads decimal and binary units", () => {
    expect(parseSize("512MB")).toBe(512_000_000);
    expect(parseSize("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("64k")).toBe(64_000);
    expect(parseSize("1048576")).toBe(1048576);
    expect(() => parseSize("lots")).toThrow(/invalid size/);
  });
});

describe("ModelHost: overcommit, LRU eviction of idle models, single-flight loads", () => {
  const models = mlpFamily(30);

  async function traffic(host: ModelHost, backend: WatchedBackend, pick: () => number, requests: number, concurrency: number) {
    let next = 0;
    let maxResident = 0;
    host.on("load", () => (maxResident = Math.max(maxResident, host.status().resident.length)));
    const worker = async (w: number) => {
      while (next < requests) {
        const n = next++;
        const i = pick();
        const batch = 1 + (n % 3);
        const x = sampleInput(models[i], batch, n * 7 + w);
        const out = await host.infer(`m${i}`, 1, { input: { dtype: "float32", shape: [batch, 8], data: x } });
        expect(out.output.shape).toEqual([batch, 4]);
        expectClose(out.output.data as Float32Array, models[i].forward(x, batch));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    expect(backend.violations).toEqual([]);
    expect(maxResident).toBeLessThanOrEqual(10);
    return maxResident;
  }

  it("serves 30 models with room for 10 under random and skewed traffic: every answer right, none evicted mid-request", async () => {
    const { host, backend } = newHost({ budgetModels: 10 });
    for (let i = 0; i < models.length; i++) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
    expect(host.status().assignedBytes).toBe(30 * MB); // three times the budget: overcommitted

    const rand = seededRandom(42);
    await traffic(host, backend, () => Math.floor(rand() * 30), 900, 12);
    const uniform = host.status();
    expect(uniform.evictions).toBeGreaterThan(0);
    expect(uniform.usedBytes).toBeLessThanOrEqual(10 * MB);

    const zipf = zipfSampler(30, 1.2, seededRandom(7));
    await traffic(host, backend, zipf, 900, 12);
    const after = host.status();
    expect(after.resident.length).toBeLessThanOrEqual(10);
    expect(after.loads).toBe(after.evictions + after.resident.length);
    // Every request was counted against its model.
    expect(after.models.reduce((n, m) => n + m.requests, 0)).toBe(1800);
  }, 60_000);

  it("runs sessions in worker threads with the same answers and the same eviction guarantees", async () => {
    const { host, backend } = newHost({ budgetModels: 4, workers: 2 });
    for (let i = 0; i < 12; i++) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
    const rand = seededRandom(3);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (next < 300) {
          const n = next++;
          const i = Math.floor(rand() * 12);
          const x = sampleInput(models[i], 2, n + w);
          const out = await host.infer(`m${i}`, 1, { input: { dtype: "float32", shape: [2, 8], data: x } });
          expect(out.output.data).toBeInstanceOf(Float32Array);
          expectClose(out.output.data as Float32Array, models[i].forward(x, 2));
          // The caller's tensor is copied to the worker, not taken from it.
          expect(x.length).toBe(16);
        }
      }),
    );
    expect(backend.violations).toEqual([]);
    expect(host.status().evictions).toBeGreaterThan(0);
    expect(host.status().resident.length).toBeLessThanOrEqual(4);
  });

  it("with a worker more than the models that fit, loads a model into a worker holding no other session", async () => {
    const { host, backend, ort } = newHost({ budgetModels: 3, workers: 4 });
    for (let i = 0; i < 9; i++) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
    const rand = seededRandom(11);
    let most = 0;
    host.on("load", () => (most = Math.max(most, ...ort.workerSessions())));
    for (let n = 0; n < 60; n++) {
      const i = Math.floor(rand() * 9);
      const x = sampleInput(models[i], 1, n);
      const out = await host.infer(`m${i}`, 1, { input: { dtype: "float32", shape: [1, 8], data: x } });
      expectClose(out.output.data as Float32Array, models[i].forward(x, 1));
    }
    expect(host.status().evictions).toBeGreaterThan(0);
    expect(most).toBe(1);
    expect(ort.workerSessions().length).toBeLessThanOrEqual(4);
    expect(backend.violations).toEqual([]);
  });

  it("loads a model from its split form in the cache: the weights mapped from a file, not copied into each session", async () => {
    const big = [makeMlp({ sizes: [784, 128, 10], seed: 21 }), makeMlp({ sizes: [784, 128, 10], seed: 22 })];
    for (const workers of [0, 2]) {
      const { host, cacheDir } = newHost({ budgetModels: 1, workers, prepackWeights: false });
      for (const [i, mlp] of big.entries()) await host.assign({ name: `big${i}`, version: 1, artifact: mlp.bytes, memoryBytes: MB });
      // Room for one: each request below swaps the other model out and this one in again.
      for (let n = 0; n < 4; n++) {
        const i = n % 2;
        const x = randomFloats(784, n);
        const out = await host.infer(`big${i}`, 1, { input: { dtype: "float32", shape: [1, 784], data: x } });
        expectClose(out.output.data as Float32Array, big[i].forward(x, 1));
        const weights = join(cacheDir, `big${i}`, "1", "model.weights");
        expect(existsSync(weights)).toBe(true);
        // Not a second copy of the whole model beside it.
        expect(existsSync(join(cacheDir, `big${i}`, "1", "model.onnx"))).toBe(false);
        if (process.platform === "linux") expect(readFileSync("/proc/self/maps", "utf8")).toContain(weights);
      }
      expect(host.status().evictions).toBe(3);
      // A model with no tensor large enough to map is cached and loaded as it is.
      await host.assign({ name: "small", version: 1, artifact: models[0].bytes, memoryBytes: MB });
      expect(readFileSync(join(cacheDir, "small", "1", "model.onnx")).equals(Buffer.from(models[0].bytes))).toBe(true);
      expect(existsSync(join(cacheDir, "small", "1", "model.weights"))).toBe(false);
      const x = randomFloats(8, 1);
      expectClose((await host.infer("small", 1, { input: { dtype: "float32", shape: [1, 8], data: x } })).output.data as Float32Array, models[0].forward(x, 1));
    }
  });

  it("runs at most maxConcurrentLoads backend loads at once, and every waiting load gets its turn", async () => {
    for (const limit of [1, 3]) {
      const { host, backend } = newHost({ budgetModels: 10, maxConcurrentLoads: limit });
      let loading = 0;
      let most = 0;
      let opened!: () => void;
      const gate = new Promise<void>((resolve) => (opened = resolve));
      const load = backend.load.bind(backend);
      backend.load = async (request) => {
        most = Math.max(most, ++loading);
        try {
          await gate;
          return await load(request);
        } finally {
          loading--;
        }
      };
      for (let i = 0; i < 6; i++) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
      const answers = Array.from({ length: 6 }, (_, i) => {
        const x = sampleInput(models[i], 1, i);
        return host.infer(`m${i}`, 1, { input: { dtype: "float32", shape: [1, 8], data: x } }).then((out) => expectClose(out.output.data as Float32Array, models[i].forward(x, 1)));
      });
      while (loading < limit) await new Promise((r) => setImmediate(r));
      opened();
      await Promise.all(answers);
      expect(most).toBe(limit);
      expect(host.status().resident.length).toBe(6);
    }
  });

  it("evicts the least recently used idle model", async () => {
    const { host } = newHost({ budgetModels: 2 });
    for (let i = 0; i < 3; i++) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
    const x = { input: { dtype: "float32" as const, shape: [1, 8], data: sampleInput(models[0], 1, 1) } };
    await host.infer("m0", 1, x);
    await host.infer("m1", 1, x);
    await host.infer("m0", 1, x); // m1 is now the least recently used
    const evicted: string[] = [];
    host.on("evict", (e: { key: string }) => evicted.push(e.key));
    await host.infer("m2", 1, x);
    expect(evicted).toEqual(["m1@1"]);
    expect(host.status().resident.sort()).toEqual(["m0@1", "m2@1"]);
  });

  it("shares one load between concurrent requests for a cold model", async () => {
    const { host } = newHost({ budgetModels: 4 });
    await host.assign({ name: "m0", version: 1, artifact: models[0].bytes, memoryBytes: MB });
    const x = sampleInput(models[0], 2, 3);
    const outs = await Promise.all(Array.from({ length: 20 }, () => host.infer("m0", 1, { input: { dtype: "float32", shape: [2, 8], data: x } })));
    for (const o of outs) expectClose(o.output.data as Float32Array, models[0].forward(x, 2));
    expect(host.get("m0", 1)!.loads).toBe(1);
    expect(host.status().loads).toBe(1);
  });

  it("waits for an in-flight model to become idle instead of evicting it, and fails clearly when none does in time", async () => {
    const { host, backend } = newHost({ budgetModels: 1, waitTimeoutMs: 300 });
    await host.assign({ name: "m0", version: 1, artifact: models[0].bytes, memoryBytes: MB });
    await host.assign({ name: "m1", version: 1, artifact: models[1].bytes, memoryBytes: MB });
    const x = { input: { dtype: "float32" as const, shape: [1, 8], data: sampleInput(models[0], 1, 5) } };
    await host.warm("m0", 1);
    backend.hold();
    const busy = host.infer("m0", 1, x); // held in flight
    await expect(host.infer("m1", 1, x)).rejects.toThrow(CapacityError);
    await expect(host.infer("m1", 1, x)).rejects.toThrow(/m0@1 \(1 in flight\)/);
    expect(host.status().resident).toEqual(["m0@1"]);

    // Now the waiting load gets its room as soon as m0 finishes.
    const waiting = host.infer("m1", 1, x);
    await new Promise((r) => setTimeout(r, 50));
    backend.release();
    await busy;
    const out = await waiting;
    expectClose(out.output.data as Float32Array, models[1].forward(x.input.data, 1));
    expect(host.status().resident).toEqual(["m1@1"]);
    expect(backend.violations).toEqual([]);
  });

  it("refuses a model larger than the whole budget, unknown models and bad inputs", async () => {
    const { host } = newHost({ budgetModels: 1 });
    await host.assign({ name: "big", version: 1, artifact: models[0].bytes, memoryBytes: 2 * MB });
    const x = { input: { dtype: "float32" as const, shape: [1, 8], data: sampleInput(models[0], 1, 5) } };
    await expect(host.infer("big", 1, x)).rejects.toThrow(/more than the agent's whole budget/);
    await expect(host.infer("nope", 1, x)).rejects.toThrow(ModelNotFoundError);
    await host.assign({ name: "m0", version: 1, artifact: models[0].bytes });
    await expect(host.infer("m0", 1, { input: { dtype: "float32", shape: [1, 7], data: new Float32Array(7) } })).rejects.toThrow(TensorInputError);
    await expect(host.infer("m0", 1, { input: { dtype: "float64", shape: [1, 8], data: new Float64Array(8) } })).rejects.toThrow(/datatype FP32/);
    await expect(host.infer("m0", 1, { x: x.input })).rejects.toThrow(/missing input "input".*unknown input "x"/);
  });

  it("says what is wrong with a model whose output has no shape at all (unknown rank)", async () => {
    const { host } = newHost({ budgetModels: 10 });
    const bytes = buildOnnxModel({
      inputs: [{ name: "x", dtype: "float32", shape: ["batch", 4] }],
      outputs: [{ name: "y", dtype: "float32" }],
      nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
    });
    await expect(host.assign({ name: "norank", version: 1, artifact: bytes })).rejects.toThrow(/output "y" is a float32 tensor of unknown rank: the model file gives it no shape/);
    expect(host.has("norank", 1)).toBe(false);
  });

  it("tells the backend at each load whether more models are assigned than fit, and packs weights and keeps an arena by default only when not", async () => {
    const { host, backend, ort } = newHost({ budgetModels: 2 });
    for (const i of [0, 1]) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
    await host.infer("m0", 1, { input: { dtype: "float32", shape: [1, 8], data: sampleInput(models[0], 1, 1) } });
    await host.assign({ name: "m2", version: 1, artifact: models[2].bytes, memoryBytes: MB });
    const x = sampleInput(models[2], 1, 2);
    expectClose((await host.infer("m2", 1, { input: { dtype: "float32", shape: [1, 8], data: x } })).output.data as Float32Array, models[2].forward(x, 1));
    expect(backend.loadRequests.map((r) => [r.key, r.overcommitted])).toEqual([["m0@1", false], ["m2@1", true]]);

    const unpacked = { extra: { session: { disable_prepacking: "1" } } };
    expect(ort.sessionOptions("cpu", false)).not.toMatchObject(unpacked);
    expect(ort.sessionOptions("cpu", true)).toMatchObject(unpacked);
    const always = new OnnxRuntimeBackend({ executionProvider: "cpu", prepackWeights: true });
    const never = new OnnxRuntimeBackend({ executionProvider: "cpu", prepackWeights: false });
    expect([always.sessionOptions("cpu", true), never.sessionOptions("cpu", false)]).toEqual([expect.not.objectContaining(unpacked), expect.objectContaining(unpacked)]);

    const noArena = { enableCpuMemArena: false, enableMemPattern: false };
    expect(ort.sessionOptions("cpu", false)).not.toMatchObject(noArena);
    expect(ort.sessionOptions("cpu", true)).toMatchObject(noArena);
    const arena = new OnnxRuntimeBackend({ executionProvider: "cpu", memoryArena: true });
    const noneEver = new OnnxRuntimeBackend({ executionProvider: "cpu", memoryArena: false });
    expect([arena.sessionOptions("cpu", true), noneEver.sessionOptions("cpu", false)]).toEqual([expect.not.objectContaining(noArena), expect.objectContaining(noArena)]);
  });

  it("estimates memory from the artifact when none is declared", async () => {
    const { host } = newHost({ budgetModels: 100 });
    const info = await host.assign({ name: "m0", version: 1, artifact: models[0].bytes });
    expect(info.memoryDeclared).toBe(false);
    expect(info.memoryBytes).toBe(Math.ceil(models[0].bytes.length * 2 + 2 * MB));
  });
});
