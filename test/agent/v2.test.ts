import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { createApi } from "../../runtime/api/server";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";
import { expectClose, sampleInput, tempDir } from "./helpers";

const v1 = makeMlp({ sizes: [5, 10, 3], seed: 3, softmax: true });
const v2 = makeMlp({ sizes: [5, 10, 3], seed: 4, softmax: true });
const BODY_LIMIT = 256 * 1024;
let app: FastifyInstance;
let base: string;
let runtime: Runtime;
let models: LocalModels;
let registry: FsModelRegistry;

beforeAll(async () => {
  registry = new FsModelRegistry(tempDir("v2-registry"));
  await registry.register({ name: "iris", artifact: v1.bytes });
  await registry.register({ name: "iris", artifact: v2.bytes });
  await registry.promote("iris", 1);
  const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 64 * 1024 * 1024, cacheDir: tempDir("v2-cache"), source: LocalModels.registrySource(registry) });
  models = new LocalModels(host, registry);
  runtime = new Runtime({ dataDir: tempDir("v2-data"), services: { registry, models } });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "score",
    nodes: [
      { id: "request", type: "io.http" },
      { id: "model", type: "model.onnx", config: { model: "iris@champion" } },
    ],
    edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
  });
  app = await createApi({ runtime, bodyLimit: BODY_LIMIT });
  base = await app.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  await models?.close();
  await registry?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" || body instanceof Uint8Array ? (body as string | Buffer<ArrayBuffer>) : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });

function rows(x: Float32Array, width: number): number[][] {
  return Array.from({ length: x.length / width }, (_, i) => Array.from(x.subarray(i * width, (i + 1) * width)));
}

/** Splits a binary-extension response into its JSON header and the bytes after it. */
async function readBinaryResponse(res: Response) {
  const body = new Uint8Array(await res.arrayBuffer());
  const n = Number(res.headers.get("inference-header-content-length"));
  return { json: JSON.parse(new TextDecoder().decode(body.subarray(0, n))), binary: body.subarray(n) };
}

describe("Open Inference Protocol (v2) over HTTP", () => {
  it("answers health, server metadata, model metadata and readiness", async () => {
    expect((await fetch(`${base}/v2/health/live`)).status).toBe(200);
    expect(await (await fetch(`${base}/v2/health/ready`)).json()).toEqual({ ready: true });
    expect((await (await fetch(`${base}/v2`)).json()).extensions).toContain("binary_tensor_data");
    const meta = await (await fetch(`${base}/v2/models/iris`)).json();
    expect(meta).toEqual({
      name: "iris", versions: ["1", "2"], platform: "onnxruntime_onnx",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 5] }], outputs: [{ name: "output", datatype: "FP32", shape: [-1, 3] }],
    });
    expect((await fetch(`${base}/v2/models/iris/versions/2/ready`)).status).toBe(200);
    expect((await fetch(`${base}/v2/models/nope/ready`)).status).toBe(404);
    expect((await fetch(`${base}/v2/models/score`)).status).toBe(200); // the pipeline
  });

  it("infers with JSON tensors, flat and nested, on the champion and on a pinned version", async () => {
    const x = sampleInput(v1, 4, 1);
    const flat = await post("/v2/models/iris/infer", { id: "r1", inputs: [{ name: "input", shape: [4, 5], datatype: "FP32", data: Array.from(x) }] });
    expect(flat.status).toBe(200);
    const body = await flat.json();
    expect(body).toMatchObject({ model_name: "iris", model_version: "1", id: "r1", outputs: [{ name: "output", datatype: "FP32", shape: [4, 3] }] });
    expectClose(body.outputs[0].data, v1.forward(x, 4));

    const nested = await (await post("/v2/models/iris/versions/2/infer", { inputs: [{ name: "input", shape: [4, 5], datatype: "FP32", data: rows(x, 5) }] })).json();
    expect(nested.model_version).toBe("2");
    expectClose(nested.outputs[0].data, v2.forward(x, 4));
  });

  it("infers with the binary tensor extension, in and out, and mixes binary input with JSON output", async () => {
    const x = sampleInput(v1, 3, 2);
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: "input", shape: [3, 5], datatype: "FP32", parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: "output", parameters: { binary_data: true } }],
    }));
    const body = Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]);
    const res = await post("/v2/models/iris/infer", body, { "content-type": "application/octet-stream", "inference-header-content-length": String(header.length) });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    const { json, binary } = await readBinaryResponse(res);
    expect(json.outputs[0]).toEqual({ name: "output", datatype: "FP32", shape: [3, 3], parameters: { binary_data_size: 36 } });
    expectClose(new Float32Array(binary.slice().buffer), v1.forward(x, 3));

    // Binary in, JSON out (no binary_data asked), and request-wide binary_data_output.
    const jsonHeader = Buffer.from(JSON.stringify({ inputs: [{ name: "input", shape: [3, 5], datatype: "FP32", parameters: { binary_data_size: x.byteLength } }] }));
    const jsonOut = await post("/v2/models/iris/infer", Buffer.concat([jsonHeader, Buffer.from(x.buffer)]), { "content-type": "application/octet-stream", "inference-header-content-length": String(jsonHeader.length) });
    expectClose((await jsonOut.json()).outputs[0].data, v1.forward(x, 3));
    const allBinary = await post("/v2/models/iris/infer", { parameters: { binary_data_output: true }, inputs: [{ name: "input", shape: [3, 5], datatype: "FP32", data: Array.from(x) }] });
    const read = await readBinaryResponse(allBinary);
    expectClose(new Float32Array(read.binary.slice().buffer), v1.forward(x, 3));
  });

  it("calls a sync pipeline under its own name, with the model version in the reply", async () => {
    const x = sampleInput(v1, 2, 9);
    const res = await post("/v2/models/score/infer", { inputs: [{ name: "input", shape: [2, 5], datatype: "FP32", data: Array.from(x) }] });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ model_name: "score", model_version: "iris@1", outputs: [{ name: "output", datatype: "FP32", shape: [2, 3] }] });
    expectClose(body.outputs[0].data, v1.forward(x, 2));
    // A bad tensor for the pipeline is a 400 naming the node that refused it.
    const bad = await post("/v2/models/score/infer", { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ node: "model", error: expect.stringMatching(/shape/) });
  });

  it("answers bad requests with 4xx and a JSON error", async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ["/v2/models/nope/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "FP32", data: [1, 2, 3, 4, 5] }] }, 404, /model nope not found/],
      ["/v2/models/iris/versions/9/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "FP32", data: [1, 2, 3, 4, 5] }] }, 404, /iris version 9 not found/],
      ["/v2/models/iris/infer", { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] }, 400, /needs shape \[-1,5\]/],
      ["/v2/models/iris/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "INT32", data: [1, 2, 3, 4, 5] }] }, 400, /needs datatype FP32, got INT32/],
      ["/v2/models/iris/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "FP16", data: [1, 2, 3, 4, 5] }] }, 400, /FP16.*not supported/],
      ["/v2/models/iris/infer", { inputs: [{ name: "input", shape: [2, 5], datatype: "FP32", data: [1, 2, 3] }] }, 400, /3 elements, shape \[2,5\] needs 10/],
      ["/v2/models/iris/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "FP32", data: [1, 2, "x", 4, 5] }] }, 400, /element 2/],
      ["/v2/models/iris/infer", { inputs: [] }, 400, /at least one input/],
      ["/v2/models/iris/infer", { inputs: [{ name: "other", shape: [1, 5], datatype: "FP32", data: [1, 2, 3, 4, 5] }] }, 400, /missing input "input".*unknown input "other"/],
      ["/v2/models/iris/infer", "{not json", 400, /not valid JSON/],
      ["/v2/models/iris/infer", { inputs: [{ name: "input", shape: [1, 5], datatype: "FP32", data: [1, 2, 3, 4, 5] }], outputs: [{ name: "logits" }] }, 400, /unknown output "logits"/],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(status);
      expect((await res.json()).error).toMatch(message);
    }
    // Binary data that does not add up.
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: "input", shape: [1, 5], datatype: "FP32", parameters: { binary_data_size: 20 } }] }));
    const short = await post("/v2/models/iris/infer", Buffer.concat([header, Buffer.alloc(12)]), { "content-type": "application/octet-stream", "inference-header-content-length": String(header.length) });
    expect(short.status).toBe(400);
    expect((await short.json()).error).toMatch(/runs past the 12 bytes/);
    const noHeader = await post("/v2/models/iris/infer", Buffer.concat([header, Buffer.alloc(20)]), { "content-type": "application/octet-stream" });
    expect(noHeader.status).toBe(400);
    expect((await noHeader.json()).error).toMatch(/Inference-Header-Content-Length/);
  });

  it("refuses a body over the limit with 413 at once", async () => {
    const big = { inputs: [{ name: "input", shape: [20000, 5], datatype: "FP32", data: Array.from({ length: 100000 }, () => 0.5) }] };
    const res = await post("/v2/models/iris/infer", big);
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/too large/i);
  });

  it("reports the in-process agent on /api/agent and /metrics", async () => {
    const status = await (await fetch(`${base}/api/agent`)).json();
    expect(status).toMatchObject({ backend: "onnxruntime", device: "cpu" });
    expect(status.resident).toEqual(expect.arrayContaining(["iris@1", "iris@2"]));
    expect(status.loads).toBeGreaterThanOrEqual(2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/evoflow_agent_model_loads_total \d+/);
    expect(metrics).toMatch(/evoflow_agent_resident_models 2/);
  });
});
