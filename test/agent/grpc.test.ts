/**
 * The Open Inference Protocol over gRPC, with a real gRPC client (grpc-js, the protocol's
 * proto) over a real socket: every datatype the agent takes round-trips bit-exact through
 * ONNX Identity models on onnxruntime, sent raw and as typed contents; errors carry their
 * codes; a token is asked for; and `evoflow agent --grpc-port` serves a registry model
 * with the answer a plain-JS forward pass gives.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { modelsV2Provider } from "../../gpu-agent/v2-provider";
import { startV2GrpcServer, type V2GrpcServer } from "../../gpu-agent/v2-grpc";
import { tensorBytes, V2_DATATYPE as DATATYPE } from "../../gpu-agent/tensors";
import { buildOnnxModel } from "../../onnx/build";
import { FsModelRegistry } from "../../runtime/registry/fs";
import type { DType, Tensor } from "../../sdk/ports";
import { makeMlp, randomFloats } from "../fixtures/mlp";

const PROTO = resolve(import.meta.dirname, "../../gpu-agent/grpc/inference.proto");
const TOKEN = "grpc-test-token-0123456789abcdef";
type Client = grpc.Client & Record<string, (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: any) => void) => void>;

function client(port: number): Client {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, arrays: true });
  const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
  return new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

function call<T = any>(c: Client, method: string, request: unknown, token: string | undefined = TOKEN): Promise<T> {
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((res, rej) => c[method](request, md, (err, out) => (err ? rej(err) : res(out))));
}

// One example tensor of each datatype, with the values at the ends of its range.
const SAMPLES: Record<DType, Tensor> = {
  bool: { dtype: "bool", shape: [4], data: Uint8Array.from([1, 0, 0, 1]) },
  uint8: { dtype: "uint8", shape: [3], data: Uint8Array.from([0, 127, 255]) },
  uint16: { dtype: "uint16", shape: [3], data: Uint16Array.from([0, 1, 65_535]) },
  uint32: { dtype: "uint32", shape: [3], data: Uint32Array.from([0, 1, 4_294_967_295]) },
  int8: { dtype: "int8", shape: [3], data: Int8Array.from([-128, 0, 127]) },
  int16: { dtype: "int16", shape: [3], data: Int16Array.from([-32_768, 0, 32_767]) },
  int32: { dtype: "int32", shape: [3], data: Int32Array.from([-2_147_483_648, 0, 2_147_483_647]) },
  int64: { dtype: "int64", shape: [3], data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 63n - 1n]) },
  float32: { dtype: "float32", shape: [4], data: Float32Array.from([-0, 1.5, 3.4e38, 1e-45]) },
  float64: { dtype: "float64", shape: [2], data: Float64Array.from([Math.PI, -1e308]) },
  string: { dtype: "string", shape: [2], data: ["héllo", ""] },
};

function typedContents(t: Tensor): Record<string, unknown> {
  const d = t.data as ArrayLike<number | bigint | string>;
  switch (t.dtype) {
    case "bool": return { bool_contents: Array.from(d as Uint8Array, (v) => v !== 0) };
    case "int8": case "int16": case "int32": return { int_contents: Array.from(d as Int32Array) };
    case "uint8": case "uint16": case "uint32": return { uint_contents: Array.from(d as Uint32Array) };
    case "int64": return { int64_contents: Array.from(d as BigInt64Array, String) };
    case "float32": return { fp32_contents: Array.from(d as Float32Array) };
    case "float64": return { fp64_contents: Array.from(d as Float64Array) };
    case "string": return { bytes_contents: (d as unknown as string[]).map((s) => Buffer.from(s)) };
  }
}

describe("OIP v2 over gRPC", () => {
  let server: V2GrpcServer;
  let c: Client;
  let host: ModelHost;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-grpc-"));
    host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 512e6, cacheDir: join(dir, "cache") });
    for (const dtype of Object.keys(SAMPLES) as DType[]) {
      const artifact = buildOnnxModel({ inputs: [{ name: "x", dtype, shape: [-1] }], outputs: [{ name: "y", dtype, shape: [-1] }], nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }], opset: 16 });
      await host.assign({ name: `id-${dtype}`, version: 1, artifact });
    }
    server = await startV2GrpcServer("127.0.0.1", 0, { provider: modelsV2Provider(new LocalModels(host), { host }), auth: { tokens: { [TOKEN]: "viewer" } } });
    c = client(server.port);
  }, 60_000);

  afterAll(async () => {
    c?.close();
    await server?.close();
    await host?.close();
  });

  it.each(Object.keys(SAMPLES) as DType[])("%s round-trips bit-exact, raw and as typed contents", async (dtype) => {
    const t = SAMPLES[dtype];
    const input = { name: "x", datatype: DATATYPE[dtype], shape: t.shape.map(String) };
    const raw = await call(c, "ModelInfer", { model_name: `id-${dtype}`, id: "r1", inputs: [input], raw_input_contents: [Buffer.from(tensorBytes(t))] });
    const typed = await call(c, "ModelInfer", { model_name: `id-${dtype}`, inputs: [{ ...input, contents: typedContents(t) }] });
    for (const res of [raw, typed]) {
      expect(res.model_name).toBe(`id-${dtype}`);
      expect(res.model_version).toBe("1");
      expect(res.outputs).toEqual([{ name: "y", datatype: DATATYPE[dtype], shape: t.shape.map(String), parameters: {}, contents: null }]);
      expect(Buffer.compare(res.raw_output_contents[0], Buffer.from(tensorBytes(t)))).toBe(0);
    }
    expect(raw.id).toBe("r1");
  });

  it("answers health and metadata, and errors with their codes", async () => {
    expect(await call(c, "ServerLive", {})).toEqual({ live: true });
    expect(await call(c, "ModelReady", { name: "id-float32" })).toEqual({ ready: true });
    expect(await call(c, "ModelReady", { name: "nope" })).toEqual({ ready: false });
    const meta = await call(c, "ModelMetadata", { name: "id-int64" });
    expect(meta).toMatchObject({ name: "id-int64", versions: ["1"], platform: "onnxruntime_onnx", inputs: [{ name: "x", datatype: "INT64", shape: ["-1"] }] });

    const infer = (req: unknown, token?: string) => call(c, "ModelInfer", req, token);
    const x = { name: "x", datatype: "FP32", shape: ["2"] };
    await expect(infer({ model_name: "nope", inputs: [{ ...x, contents: { fp32_contents: [1, 2] } }] })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: "model nope not found" });
    await expect(infer({ model_name: "id-float32", inputs: [{ ...x, contents: { fp32_contents: [1, 2, 3] } }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/3 elements, shape \[2\] needs 2/) });
    await expect(infer({ model_name: "id-float32", inputs: [{ ...x, datatype: "INT32", contents: { int_contents: [1, 2] } }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/needs datatype FP32, got INT32/) });
    await expect(infer({ model_name: "id-uint8", inputs: [{ name: "x", datatype: "UINT8", shape: ["1"], contents: { uint_contents: [300] } }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/from 0 to 255/) });
    await expect(infer({ model_name: "id-float32", inputs: [x], raw_input_contents: [Buffer.alloc(4)] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/needs 8/) });
    await expect(infer({ model_name: "id-float32", inputs: [x, { ...x, name: "z" }], raw_input_contents: [Buffer.alloc(8)] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/1 entries for 2 inputs/) });
    await expect(infer({ model_name: "id-float32", inputs: [{ ...x, contents: { fp32_contents: [1, 2] } }] }, "")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(/needs a token/) });
    await expect(infer({ model_name: "id-float32", inputs: [{ ...x, contents: { fp32_contents: [1, 2] } }] }, "wrong")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "wrong token" });
    await expect(call(c, "ServerLive", {}, "")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });
});

/** Starts the CLI and waits for its gRPC line. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, "../../bin/evoflow.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output += b));
  child.stderr!.on("data", (b: Buffer) => (output += b));
  await expect.poll(() => /grpc: 127\.0\.0\.1:(\d+)/.exec(output), { timeout: 30_000 }).not.toBeNull();
  return { child, port: Number(/grpc: 127\.0\.0\.1:(\d+)/.exec(output)![1]) };
}

describe("--grpc-port on the CLI", () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill("SIGKILL")));
  const mlp = makeMlp({ sizes: [5, 8, 3], seed: 11 });

  async function registryWithIris(dir: string): Promise<void> {
    const registry = new FsModelRegistry(dir);
    await registry.register({ name: "iris", artifact: mlp.bytes });
    await registry.promote("iris", 1);
    await registry.close();
  }

  async function expectIris(port: number): Promise<void> {
    const c = client(port);
    const x = randomFloats(10, 4);
    const res = await call(c, "ModelInfer", { model_name: "iris", inputs: [{ name: "input", datatype: "FP32", shape: ["2", "5"] }], raw_input_contents: [Buffer.from(x.buffer)] });
    expect(res.outputs[0]).toMatchObject({ name: "output", datatype: "FP32", shape: ["2", "3"] });
    const got = new Float32Array(new Uint8Array(res.raw_output_contents[0]).buffer);
    const expected = mlp.forward(x, 2);
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    await expect(call(c, "ModelInfer", { model_name: "iris", inputs: [] }, "")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    c.close();
  }

  it("evoflow agent serves the registry's champion over gRPC beside REST", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-grpc-agent-"));
    await registryWithIris(join(dir, "registry"));
    const { child, port } = await startCli(["agent", "--port", "0", "--grpc-port", "0", "--registry", join(dir, "registry"), "--cache", join(dir, "cache"), "--memory", "256MB", "--token", TOKEN]);
    children.push(child);
    await expectIris(port);
  }, 60_000);

  it("evoflow run serves its registry models over gRPC, with its token", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-grpc-run-"));
    await registryWithIris(join(dir, "data", "registry"));
    const { child, port } = await startCli(["run", resolve(import.meta.dirname, "../../pipelines/hello-http.json"), "--port", "0", "--grpc-port", "0", "--data", join(dir, "data"), "--token", TOKEN]);
    children.push(child);
    await expectIris(port);
  }, 60_000);
});
