/**
 * The Triton backend against the agent's own v2 server (Triton itself cannot be
 * installed here), through a recording proxy that checks every request body against
 * the shapes Triton documents (protocol/extension_model_repository.md,
 * extension_binary_data.md).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { createAgentServer } from "../../gpu-agent/server";
import { LocalModels } from "../../gpu-agent/service";
import { TritonBackend, tritonModelName } from "../../gpu-agent/triton";
import { expectClose, mlpFamily, sampleInput, tempDir, WatchedBackend } from "./helpers";

const MB = 1024 * 1024;
const models = mlpFamily(3);
let tritonHost: ModelHost;
let tritonApp: FastifyInstance;
let proxy: Server;
let proxyUrl: string;
const recorded: { path: string; headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];

beforeAll(async () => {
  // The stand-in for Triton: an agent on onnxruntime with room for everything.
  tritonHost = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 256 * MB, cacheDir: tempDir("triton") });
  tritonApp = await createAgentServer({ models: new LocalModels(tritonHost), host: tritonHost });
  const target = await tritonApp.listen({ port: 0, host: "127.0.0.1" });
  proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    recorded.push({ path: req.url!, headers: req.headers, body });
    const headers: Record<string, string> = {};
    for (const h of ["content-type", "inference-header-content-length"]) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const answer = await fetch(`${target}${req.url}`, { method: req.method, headers, body: req.method === "GET" ? undefined : body });
    const out = Buffer.from(await answer.arrayBuffer());
    const back: Record<string, string> = {};
    answer.headers.forEach((v, k) => { if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection") back[k] = v; });
    res.writeHead(answer.status, back).end(out);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  proxy?.close();
  await tritonApp?.close();
  await tritonHost?.close();
});

// Triton's documented request shapes.
const tritonTensorConfig = z.object({ name: z.string(), data_type: z.enum(["TYPE_FP32", "TYPE_FP64", "TYPE_INT32", "TYPE_INT64", "TYPE_BOOL", "TYPE_UINT8", "TYPE_STRING"]), dims: z.array(z.number().int()) });
const modelConfig = z.object({ name: z.string(), backend: z.literal("onnxruntime"), max_batch_size: z.number().int(), input: z.array(tritonTensorConfig), output: z.array(tritonTensorConfig) });
const loadRequest = z.strictObject({ parameters: z.object({ config: z.string(), "file:1/model.onnx": z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/) }).strict() });
const unloadRequest = z.strictObject({ parameters: z.strictObject({ unload_dependents: z.boolean() }).optional() });
const inferHeader = z.strictObject({
  inputs: z.array(z.strictObject({ name: z.string(), shape: z.array(z.number().int()), datatype: z.string(), parameters: z.strictObject({ binary_data_size: z.number().int() }) })),
  outputs: z.array(z.strictObject({ name: z.string(), parameters: z.strictObject({ binary_data: z.literal(true) }) })),
});

describe("Triton backend (explicit model control over HTTP v2)", () => {
  it("loads, infers with binary tensors, and unloads evicted models, with Triton-shaped requests", async () => {
    const backend = new WatchedBackend(new TritonBackend({ url: proxyUrl }));
    const host = new ModelHost({ backend, memoryBytes: 2 * MB, cacheDir: tempDir("triton-client") });
    try {
      for (let i = 0; i < 3; i++) await host.assign({ name: `m${i}`, version: 1, artifact: models[i].bytes, memoryBytes: MB });
      for (const i of [0, 1, 2, 0, 1, 2]) {
        const x = sampleInput(models[i], 3, i + 10);
        const out = await host.infer(`m${i}`, 1, { input: { dtype: "float32", shape: [3, 8], data: x } });
        expect(out.output.shape).toEqual([3, 4]);
        expectClose(out.output.data as Float32Array, models[i].forward(x, 3));
      }
      expect(host.status().evictions).toBeGreaterThanOrEqual(4);
      expect(backend.violations).toEqual([]);

      const loads = recorded.filter((r) => r.path.endsWith("/load"));
      const unloads = recorded.filter((r) => r.path.endsWith("/unload"));
      const infers = recorded.filter((r) => r.path.endsWith("/infer"));
      expect(loads.length).toBe(host.status().loads);
      expect(unloads.length).toBe(host.status().evictions);
      expect(infers.length).toBe(6);
      for (const r of loads) {
        const name = /^\/v2\/repository\/models\/([^/]+)\/load$/.exec(r.path)![1];
        const body = loadRequest.parse(JSON.parse(r.body.toString()));
        const config = modelConfig.parse(JSON.parse(body.parameters.config));
        expect(config).toEqual({ name, backend: "onnxruntime", max_batch_size: 0, input: [{ name: "input", data_type: "TYPE_FP32", dims: [-1, 8] }], output: [{ name: "output", data_type: "TYPE_FP32", dims: [-1, 4] }] });
        const i = Number(/^m(\d)-v1$/.exec(name)![1]);
        expect(Buffer.from(body.parameters["file:1/model.onnx"], "base64").equals(Buffer.from(models[i].bytes))).toBe(true);
      }
      for (const r of unloads) unloadRequest.parse(JSON.parse(r.body.toString()));
      for (const r of infers) {
        expect(r.path).toMatch(/^\/v2\/models\/m\d-v1\/infer$/);
        expect(r.headers["content-type"]).toBe("application/octet-stream");
        const n = Number(r.headers["inference-header-content-length"]);
        const header = inferHeader.parse(JSON.parse(r.body.subarray(0, n).toString()));
        expect(r.body.length - n).toBe(header.inputs.reduce((s, i) => s + i.parameters.binary_data_size, 0));
      }

      // The repository index reflects what the client left loaded.
      const index = await new TritonBackend({ url: proxyUrl }).index();
      const resident = host.status().resident.map((k) => tritonModelName(k.split("@")[0], 1));
      for (const name of resident) expect(index).toContainEqual({ name, version: "1", state: "READY", reason: "" });
      expect(index.filter((e) => e.state === "READY").length).toBe(resident.length);
    } finally {
      await host.close();
    }
  });

  it("reports Triton's errors clearly: a file that is not ONNX, a load without config, an unknown model", async () => {
    const post = (path: string, body: unknown) => fetch(`${proxyUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const notOnnx = await post("/v2/repository/models/bad/load", { parameters: { config: "{}", "file:1/model.onnx": Buffer.from("hello").toString("base64") } });
    expect(notOnnx.status).toBe(400);
    expect((await notOnnx.json()).error).toMatch(/not a valid ONNX model/);
    const noConfig = await post("/v2/repository/models/bad/load", { parameters: { "file:1/model.onnx": Buffer.from(models[0].bytes).toString("base64") } });
    expect(noConfig.status).toBe(400);
    expect((await noConfig.json()).error).toMatch(/"config".*is required/);
    const unknown = await post("/v2/repository/models/ghost/unload", {});
    expect(unknown.status).toBe(404);
    const traversal = await post("/v2/repository/models/..%2Fetc/load", { parameters: { config: "{}", "file:1/model.onnx": "" } });
    expect(traversal.status).toBe(400);
  });
});
