/**
 * sklearn and Python class models in the agent, against real python3 workers and sklearn models
 * trained here on synthetic data: served over OIP v2 (REST and gRPC) and through the model.onnx
 * node as ONNX models are, with the same answers as `predict` in Python; evicted and reloaded
 * under a budget that counts each worker's RSS; refused without exec, in the registry and the agent.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ByFormat } from "../../gpu-agent/by-format";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { PythonModelsBackend } from "../../gpu-agent/python-models";
import { LocalModels } from "../../gpu-agent/service";
import { startV2GrpcServer, type V2GrpcServer } from "../../gpu-agent/v2-grpc";
import { modelsV2Provider } from "../../gpu-agent/v2-provider";
import { createApi } from "../../runtime/api/server";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { closeServices, createServices } from "../../runtime/services";
import { tempDir } from "./helpers";
import { pythonWithSklearn, trainSklearn, pythonModelArchive } from "./python-fixtures";

const PYTHON = pythonWithSklearn();
const dir = tempDir("pymodels");
const clf = trainSklearn(PYTHON, dir, { name: "clf", seed: 1, features: 6, classes: 3, rows: 20 });

let registry: FsModelRegistry;
let models: LocalModels;
let runtime: Runtime;
let app: FastifyInstance;
let base: string;
let grpcServer: V2GrpcServer;

const post = (path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });

beforeAll(async () => {
  registry = new FsModelRegistry(join(dir, "registry"));
  await registry.register({ name: "clf", format: "sklearn", artifact: clf.bytes, allowExec: true });
  await registry.promote("clf", 1);
  await registry.register({ name: "doubler", format: "python", artifact: pythonModelArchive(PYTHON, dir), allowExec: true });
  await registry.promote("doubler", 1);
  const backend = new ByFormat([new OnnxRuntimeBackend({ executionProvider: "cpu" }), new PythonModelsBackend({ allowExec: true, interpreter: PYTHON })]);
  const host = new ModelHost({ backend, memoryBytes: 2e9, cacheDir: join(dir, "cache"), source: LocalModels.registrySource(registry) });
  models = new LocalModels(host, registry);
  runtime = new Runtime({ dataDir: join(dir, "data"), services: { registry, models } });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "score",
    nodes: [
      { id: "request", type: "io.http" },
      { id: "model", type: "model.onnx", config: { model: "clf@champion", output: "probabilities" } },
    ],
    edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
  });
  app = await createApi({ runtime });
  base = await app.listen({ port: 0, host: "127.0.0.1" });
  grpcServer = await startV2GrpcServer("127.0.0.1", 0, { provider: modelsV2Provider(models, { host }) });
}, 120_000);

afterAll(async () => {
  await grpcServer?.close();
  await app?.close();
  await runtime?.close();
  await models?.close();
  await registry?.close();
});

describe("an sklearn model in the agent", () => {
  it("describes itself from n_features_in_ and classes_, and the registry's card says its format", async () => {
    const meta = await (await fetch(`${base}/v2/models/clf`)).json();
    expect(meta).toMatchObject({
      name: "clf",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 6] }],
      outputs: [{ name: "label", datatype: "INT64", shape: [-1] }, { name: "probabilities", datatype: "FP64", shape: [-1, 3] }],
    });
    expect((await registry.get("clf", 1))!.artifact.format).toBe("sklearn");
  });

  it("answers over OIP v2 REST as predict and predict_proba do in Python on the same inputs", async () => {
    const res = await post("/v2/models/clf/infer", { inputs: [{ name: "input", shape: [clf.rows, 6], datatype: "FP32", data: clf.x }] });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.outputs).toEqual([
      { name: "label", datatype: "INT64", shape: [clf.rows], data: clf.label },
      { name: "probabilities", datatype: "FP64", shape: [clf.rows, 3], data: clf.proba },
    ]);
  });

  it("answers over OIP v2 gRPC the same, raw little-endian bytes", async () => {
    const def = protoLoader.loadSync(join(import.meta.dirname, "../../gpu-agent/grpc/inference.proto"), { keepCase: true, longs: String, enums: String, defaults: true, arrays: true });
    const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
    const c = new Service(`127.0.0.1:${grpcServer.port}`, grpc.credentials.createInsecure());
    const x = Float32Array.from(clf.x);
    const res: any = await new Promise((ok, fail) =>
      c.ModelInfer({ model_name: "clf", inputs: [{ name: "input", datatype: "FP32", shape: [String(clf.rows), "6"] }], raw_input_contents: [Buffer.from(x.buffer)] }, new grpc.Metadata(), (err: Error | null, out: unknown) => (err ? fail(err) : ok(out))),
    );
    c.close();
    expect(res.outputs.map((o: { name: string }) => o.name)).toEqual(["label", "probabilities"]);
    const raw = (i: number) => { const b: Buffer = res.raw_output_contents[i]; return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); };
    expect(Array.from(new BigInt64Array(raw(0)), Number)).toEqual(clf.label);
    expect(Array.from(new Float64Array(raw(1)))).toEqual(clf.proba);
  });

  it("serves through the model.onnx node as an ONNX model does", async () => {
    const res = await post("/v2/models/score/infer", { inputs: [{ name: "input", shape: [clf.rows, 6], datatype: "FP32", data: clf.x }] });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ model_version: "clf@1", outputs: [{ datatype: "FP64", shape: [clf.rows, 3] }] });
    expect(body.outputs[0].data).toEqual(clf.proba);
  });

  it("a bad input is a 400 from the signature check, before Python sees it", async () => {
    const res = await post("/v2/models/clf/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "FP32", data: [1, 2, 3, 4, 5] }] });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/shape/);
  });
});

describe("a python class model (model.py with load and predict)", () => {
  it("loads from its archive and serves its declared signature", async () => {
    const meta = await (await fetch(`${base}/v2/models/doubler`)).json();
    expect(meta).toMatchObject({ inputs: [{ name: "x", datatype: "FP32", shape: [-1, 3] }], outputs: [{ name: "y", datatype: "FP32", shape: [-1, 3] }, { name: "loaded", datatype: "BYTES", shape: [1] }] });
    const res = await post("/v2/models/doubler/infer", { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3, 4, 5, 6.5] }] });
    expect(res.status).toBe(200);
    const body = await res.json();
    // `loaded` shows load() ran once in the worker and read a file shipped beside model.py.
    expect(body.outputs).toEqual([
      { name: "y", datatype: "FP32", shape: [2, 3], data: [2, 4, 6, 8, 10, 13] },
      { name: "loaded", datatype: "BYTES", shape: [1], data: ["factor 2 from weights.txt"] },
    ]);
  });
});

describe("exec", () => {
  it("the registry refuses a pickle or a model folder without allowExec, and stores nothing", async () => {
    const reg = new FsModelRegistry(join(dir, "refusing"));
    await expect(reg.register({ name: "p", format: "sklearn", artifact: clf.bytes })).rejects.toThrow(/runs its code.*needs exec/);
    await expect(reg.register({ name: "p", format: "python", artifact: new Uint8Array(10) })).rejects.toThrow(/needs exec/);
    expect(await reg.list()).toEqual([]);
    await reg.close();
  });

  it("an agent without exec refuses to load one, with a 403 naming the flag", async () => {
    const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 1e9, cacheDir: join(dir, "cache-noexec"), source: LocalModels.registrySource(registry) });
    const local = new LocalModels(host, registry);
    await expect(local.infer("clf", 1, { input: { dtype: "float32", shape: [1, 6], data: new Float32Array(6) } })).rejects.toThrow(/does not load sklearn models.*--allow-exec/);
    // A Python backend made without allowExec refuses as well (and starts no worker).
    const refusing = new PythonModelsBackend({ allowExec: false, interpreter: PYTHON });
    await expect(refusing.inspect("sklearn", join(dir, "clf.joblib"))).rejects.toThrow(/does not allow exec/);
    await local.close();
  });
});

describe("the runtime's in-process agent", () => {
  it("hosts sklearn models when the runtime grants exec, and refuses them when it does not", async () => {
    const dataDir = tempDir("pymodels-services");
    const reg = new FsModelRegistry(join(dataDir, "registry"));
    await reg.register({ name: "clf", format: "sklearn", artifact: clf.bytes, allowExec: true });
    await reg.close();
    const input = { input: { dtype: "float32" as const, shape: [clf.rows, 6], data: Float32Array.from(clf.x) } };
    for (const allowExec of [true, false]) {
      const services = await createServices({ dataDir, allowExec, python: PYTHON });
      const service = services.models as LocalModels;
      try {
        if (allowExec) expect(Array.from((await service.infer("clf", 1, input, ["label"])).label.data as BigInt64Array, Number)).toEqual(clf.label);
        else await expect(service.infer("clf", 1, input)).rejects.toThrow(/does not load sklearn models.*grant the runtime exec/);
      } finally {
        await closeServices(services);
      }
    }
  }, 60_000);
});

describe("memory: each worker's RSS in the budget", () => {
  it("accounts the measured RSS, evicts the least recently used idle model and reloads it on demand", async () => {
    const fits = [2, 3, 4].map((seed) => trainSklearn(PYTHON, dir, { name: `m${seed}`, seed, features: 4, classes: 2, rows: 3 }));
    const backend = new PythonModelsBackend({ allowExec: true, interpreter: PYTHON });
    const probe = new ModelHost({ backend, memoryBytes: 4e9, cacheDir: join(dir, "cache-probe") });
    const info = await probe.assign({ name: "m", version: 1, format: "sklearn", artifact: fits[0].bytes });
    await probe.close();
    // The worker that read the signature measured the model: a python3 with numpy and sklearn, tens of MB.
    expect(info.memoryBytes).toBeGreaterThan(20e6);

    // Room for two workers, not three.
    const host = new ModelHost({ backend: new PythonModelsBackend({ allowExec: true, interpreter: PYTHON }), memoryBytes: Math.round(info.memoryBytes * 2.5), cacheDir: join(dir, "cache-budget") });
    const evicted: string[] = [];
    host.on("evict", (e: { key: string }) => evicted.push(e.key));
    for (const [i, f] of fits.entries()) await host.assign({ name: `m${i}`, version: 1, format: "sklearn", artifact: f.bytes });
    const predict = async (i: number) => {
      const out = await host.infer(`m${i}`, 1, { input: { dtype: "float32", shape: [fits[i].rows, 4], data: Float32Array.from(fits[i].x) } }, ["label"]);
      expect(Array.from(out.label.data as BigInt64Array, Number)).toEqual(fits[i].label);
    };
    await predict(0);
    await predict(1);
    const afterTwo = host.status();
    expect(afterTwo.resident).toEqual(["m0@1", "m1@1"]);
    // Accounted at what the workers measure (their RSS now), not the artifact-size estimate.
    for (const m of afterTwo.models.filter((m) => m.state === "resident")) expect(m.memoryBytes).toBeGreaterThan(20e6);
    expect(afterTwo.usedBytes).toBeLessThanOrEqual(afterTwo.memoryBytes);

    await predict(2); // m0, least recently used, goes
    expect(evicted).toEqual(["m0@1"]);
    expect(host.status().resident.sort()).toEqual(["m1@1", "m2@1"]);
    await predict(0); // back, for m1
    expect(evicted).toEqual(["m0@1", "m1@1"]);
    const end = host.status();
    expect(end.models.find((m) => m.name === "m0")).toMatchObject({ loads: 2, evictions: 1, state: "resident" });
    expect(end.usedBytes).toBeLessThanOrEqual(end.memoryBytes);
    await host.close();
  }, 120_000);

  it("a model whose signature is given is estimated at assignment, then accounted at its worker's RSS once loaded", async () => {
    const host = new ModelHost({ backend: new PythonModelsBackend({ allowExec: true, interpreter: PYTHON }), memoryBytes: 4e9, cacheDir: join(dir, "cache-given") });
    const signature = { inputs: [{ name: "x", dtype: "float32" as const, shape: [-1, 3] }], outputs: [{ name: "y", dtype: "float32" as const, shape: [-1, 3] }] };
    const assigned = await host.assign({ name: "given", version: 1, format: "python", artifact: pythonModelArchive(PYTHON, dir), signature });
    expect(assigned.memoryBytes).toBeLessThan(5e6); // artifact × 2 + 2 MiB: no worker was started
    await host.infer("given", 1, { x: { dtype: "float32", shape: [1, 3], data: Float32Array.from([1, 2, 3]) } }, ["y"]);
    const loaded = host.get("given", 1)!;
    expect(loaded.memoryBytes).toBeGreaterThan(10e6);
    expect(host.status().usedBytes).toBe(loaded.memoryBytes);
    await host.close();
  }, 60_000);

  it("never evicts a model with a request in flight: the load waits for it", async () => {
    const sleeper = pythonModelArchive(PYTHON, dir, { sleepS: 1.5 });
    const quick = pythonModelArchive(PYTHON, dir, { sleepS: 0 });
    const probe = new ModelHost({ backend: new PythonModelsBackend({ allowExec: true, interpreter: PYTHON }), memoryBytes: 4e9, cacheDir: join(dir, "cache-probe2") });
    const one = (await probe.assign({ name: "p", version: 1, format: "python", artifact: quick })).memoryBytes;
    await probe.close();
    // Room for one worker of this kind, not two.
    const host = new ModelHost({ backend: new PythonModelsBackend({ allowExec: true, interpreter: PYTHON }), memoryBytes: Math.round(one * 1.6), cacheDir: join(dir, "cache-inflight") });
    await host.assign({ name: "sleeper", version: 1, format: "python", artifact: sleeper });
    await host.assign({ name: "quick", version: 1, format: "python", artifact: quick });
    const x = { x: { dtype: "float32" as const, shape: [1, 3], data: Float32Array.from([1, 2, 3]) } };
    const sleeping = host.infer("sleeper", 1, x);
    while (host.get("sleeper", 1)!.state !== "resident") await new Promise((r) => setTimeout(r, 20));
    const started = performance.now();
    const other = await host.infer("quick", 1, x);
    const waited = performance.now() - started;
    const first = await sleeping; // finished on its own worker, not killed under it
    expect(Array.from(first.y.data as Float32Array)).toEqual([2, 4, 6]);
    expect(Array.from(other.y.data as Float32Array)).toEqual([2, 4, 6]);
    expect(waited).toBeGreaterThan(800); // waited for the sleeper's request to end
    expect(host.get("sleeper", 1)).toMatchObject({ state: "cold", evictions: 1 });
    await host.close();
  }, 120_000);
});
