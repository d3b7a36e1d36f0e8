import { afterEach, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import type { Message } from "../../runtime/envelope";
import type { Tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp, type MlpFixture } from "../fixtures/mlp";
import { expectClose, sampleInput, tempDir } from "./helpers";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(memoryModels = 8) {
  const registry = new FsModelRegistry(tempDir("registry"));
  const host = new ModelHost({
    backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }),
    memoryBytes: memoryModels * 4 * 1024 * 1024,
    cacheDir: tempDir("cache"),
    source: LocalModels.registrySource(registry),
  });
  const models = new LocalModels(host, registry);
  const runtime = new Runtime({ dataDir: tempDir("data"), services: { registry, models } });
  cleanups.push(async () => {
    await runtime.close();
    await models.close();
    await registry.close();
  });
  return { registry, host, models, runtime };
}

function pipeline(model: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "evoflow/v1",
    name: "scorer",
    nodes: [
      { id: "request", type: "io.http" },
      { id: "model", type: "model.onnx", config: { model, ...extra } },
    ],
    edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
  };
}

function input(mlp: MlpFixture, batch: number, seed: number): Tensor {
  return { dtype: "float32", shape: [batch, mlp.sizes[0]], data: sampleInput(mlp, batch, seed) };
}

describe("model.onnx node", () => {
  const v1 = makeMlp({ sizes: [6, 12, 3], seed: 11, softmax: true });
  const v2 = makeMlp({ sizes: [6, 12, 3], seed: 22, softmax: true });

  it("runs name@champion and records the model version on the emitted message", async () => {
    const { registry, runtime } = await setup();
    await registry.register({ name: "clf", artifact: v1.bytes });
    await registry.promote("clf", 1);
    const running = await runtime.deploy(pipeline("clf@champion"));
    const x = input(v1, 3, 5);
    const [reply] = await running.entrypoints.get("scorer")!.invoke(x);
    expect(reply.source.model).toEqual({ name: "clf", version: 1 });
    const out = reply.payload as Tensor;
    expect(out.shape).toEqual([3, 3]);
    expectClose(out.data as Float32Array, v1.forward(x.data as Float32Array, 3));
  });

  it("pins a version with name@N, and io 'named' maps records of tensors by input and output name", async () => {
    const { registry, runtime } = await setup();
    await registry.register({ name: "clf", artifact: v1.bytes });
    await registry.register({ name: "clf", artifact: v2.bytes });
    await registry.promote("clf", 1);
    const running = await runtime.deploy(pipeline("clf@2", { io: "named" }));
    const x = input(v2, 2, 9);
    const [reply] = await running.entrypoints.get("scorer")!.invoke({ input: x });
    expect(reply.source.model).toEqual({ name: "clf", version: 2 });
    expectClose((reply.payload as Record<string, Tensor>).output.data as Float32Array, v2.forward(x.data as Float32Array, 2));
  });

  it("stacks concurrent requests into batches and splits the answers back", async () => {
    const { registry, runtime } = await setup();
    await registry.register({ name: "clf", artifact: v1.bytes });
    await registry.promote("clf", 1);
    const running = await runtime.deploy(pipeline("clf", { maxBatchSize: 8, maxDelayMs: 5 }));
    const entry = running.entrypoints.get("scorer")!;
    const inputs = Array.from({ length: 40 }, (_, i) => input(v1, 1 + (i % 3), i));
    const replies = await Promise.all(inputs.map((x) => entry.invoke(x)));
    replies.forEach(([reply], i) => {
      const out = reply.payload as Tensor;
      expect(out.shape).toEqual([inputs[i].shape[0], 3]);
      expectClose(out.data as Float32Array, v1.forward(inputs[i].data as Float32Array, inputs[i].shape[0]));
    });
    const status = running.status().nodes.model as { batches: number; batchedRequests: number };
    expect(status.batchedRequests).toBe(40);
    expect(status.batches).toBeLessThan(40);
  });

  it("batches tensors whose data came as JSON arrays (an HTTP body) as well as typed ones", async () => {
    const { registry, runtime } = await setup();
    await registry.register({ name: "clf", artifact: v1.bytes });
    await registry.promote("clf", 1);
    const running = await runtime.deploy(pipeline("clf", { maxBatchSize: 8, maxDelayMs: 5 }));
    const entry = running.entrypoints.get("scorer")!;
    // What io.http hands on for {"dtype":"float32","shape":[1,6],"data":[...]}: data a plain array.
    const inputs = Array.from({ length: 16 }, (_, i) => ({ ...input(v1, 1, i), data: Array.from(sampleInput(v1, 1, i)) }));
    const replies = await Promise.all(inputs.map((x) => entry.invoke(x)));
    replies.forEach(([reply], i) => expectClose((reply.payload as Tensor).data as Float32Array, v1.forward(Float32Array.from(inputs[i].data), 1)));
    expect((running.status().nodes.model as { batches: number }).batches).toBeLessThan(16);
  });

  it("a bad tensor is dead-lettered with the reason and the pipeline keeps serving", async () => {
    const { registry, runtime } = await setup();
    await registry.register({ name: "clf", artifact: v1.bytes });
    await registry.promote("clf", 1);
    const running = await runtime.deploy(pipeline("clf"));
    const entry = running.entrypoints.get("scorer")!;
    await expect(entry.invoke({ dtype: "float32", shape: [1, 5], data: new Float32Array(5) })).rejects.toThrow(/needs shape \[-1,6\]/);
    expect(running.deadLetters.toArray().at(-1)!.reason).toMatch(/needs shape/);
    const x = input(v1, 1, 1);
    const [reply] = await entry.invoke(x);
    expectClose((reply.payload as Tensor).data as Float32Array, v1.forward(x.data as Float32Array, 1));
  });

  it("hot-swaps to a new champion under continuous load with zero failed requests", async () => {
    const { registry, runtime, host } = await setup();
    await registry.register({ name: "clf", artifact: v1.bytes });
    await registry.register({ name: "clf", artifact: v2.bytes });
    await registry.promote("clf", 1);
    const running = await runtime.deploy(pipeline("clf@champion", { maxBatchSize: 4 }));
    const entry = running.entrypoints.get("scorer")!;
    const fixtures: Record<number, MlpFixture> = { 1: v1, 2: v2 };

    let failures = 0;
    let swappedAt = Infinity; // request number after which the node is known to serve v2
    let sent = 0;
    const served: { n: number; version: number }[] = [];
    let stop = false;
    const worker = async (w: number) => {
      while (!stop) {
        const n = sent++;
        const x = input(v1, 1 + (n % 2), n * 13 + w);
        try {
          const [reply] = (await entry.invoke(x)) as Message[];
          const version = Number(reply.source.model!.version);
          // Each answer comes from the version it says it came from.
          expectClose((reply.payload as Tensor).data as Float32Array, fixtures[version].forward(x.data as Float32Array, x.shape[0]));
          served.push({ n, version });
        } catch (err) {
          failures++;
          throw err;
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    while (served.length < 150) await new Promise((r) => setTimeout(r, 5));
    await registry.promote("clf", 2, "better");
    while ((running.status().nodes.model as { model: string }).model !== "clf@2") await new Promise((r) => setTimeout(r, 1));
    swappedAt = sent;
    while (served.filter((s) => s.version === 2).length < 150) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(workers);

    expect(failures).toBe(0);
    expect(served.filter((s) => s.version === 1).length).toBeGreaterThan(100);
    // Every request sent after the swap was served by the new champion.
    expect(served.filter((s) => s.n >= swappedAt && s.version !== 2)).toEqual([]);
    // The old version is unloaded once its last request finished.
    await expect.poll(() => host.get("clf", 1)?.state).toBe("cold");
  }, 30_000);
});
