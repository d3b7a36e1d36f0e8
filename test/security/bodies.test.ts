/**
 * Request bodies against the real servers (the runtime's API and the standalone
 * agent's): JSON nesting depth, prototype poisoning, OIP tensor checks on both /v2
 * surfaces, and a model with only a candidate. Every refusal is a 4xx with a JSON
 * `error`, never a 5xx, a crash or a hang, and the server keeps serving.
 */
import type { FastifyInstance } from "fastify";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { createAgentServer } from "../../gpu-agent/server";
import { LocalModels } from "../../gpu-agent/service";
import { parseInferRequestJson } from "../../gpu-agent/v2-json";
import { allNodes } from "../../nodes";
import { createApi } from "../../runtime/api/server";
import { checkJsonDepth, JsonDepthError } from "../../runtime/json-depth";
import { defineNode } from "../../sdk/contract";
import { NodeTypes } from "../../runtime/node-types";
import { port } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { makeMlp } from "../fixtures/mlp";
import { tempDir } from "../agent/helpers";

const echo = defineNode({
  type: "test.echo",
  category: "transform",
  title: "Echo",
  description: "Replies with what it gets.",
  inputs: { in: port.any() },
  outputs: { out: port.sameAs("in") },
  config: z.object({}),
  create: () => ({ onMessage: (_p, m, emit) => emit("out", m.payload).then(() => undefined) }),
});

const nested = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
const nestedObject = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

let runtime: Runtime;
let app: FastifyInstance;
let base: string;
let agent: FastifyInstance;
let agentBase: string;
let registry: FsModelRegistry;
let models: LocalModels;

beforeAll(async () => {
  registry = new FsModelRegistry(tempDir("bodies-registry"));
  const mlp = makeMlp({ sizes: [5, 4, 3], seed: 3, softmax: true });
  await registry.register({ name: "fresh", artifact: mlp.bytes });
  await registry.register({ name: "fresh", artifact: mlp.bytes });
  await registry.setStatus("fresh", 2, "rejected", "failed its gate");
  const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 64 * 1024 * 1024, cacheDir: tempDir("bodies-cache"), source: LocalModels.registrySource(registry) });
  models = new LocalModels(host, registry);
  runtime = new Runtime({ nodeTypes: new NodeTypes([...allNodes, echo]), dataDir: tempDir("bodies-data"), services: { registry, models } });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "echo",
    nodes: [
      { id: "h", type: "io.http" },
      { id: "e", type: "test.echo" },
    ],
    edges: [{ from: "h.out", to: "e.in" }],
  });
  app = await createApi({ runtime });
  base = await app.listen({ port: 0, host: "127.0.0.1" });
  agent = await createAgentServer({ models, host });
  agentBase = await agent.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await app?.close();
  await agent?.close();
  await runtime?.close();
  await models?.close();
  await registry?.close();
});

const post = (url: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: body as string, signal: AbortSignal.timeout(5_000) });

async function expectRefused(res: Response, status: number, reason: RegExp) {
  const body = (await res.json()) as { error: string };
  expect({ status: res.status, error: body.error }).toEqual({ status, error: expect.stringMatching(reason) });
}

describe("JSON nesting depth", () => {
  it("the runtime's JSON routes take 64 levels and refuse 65 with a 400 naming the limit", async () => {
    const ok = await post(`${base}/pipelines/echo`, `{"x":${nested(63)}}`);
    expect(ok.status).toBe(200);
    expect(JSON.stringify(await ok.json())).toBe(`{"x":${nested(63)}}`);
    for (const path of ["/pipelines/echo", "/api/validate", "/api/pipelines"]) {
      await expectRefused(await post(`${base}${path}`, `{"x":${nested(64)}}`), 400, /nested deeper than 64 levels/);
      await expectRefused(await post(`${base}${path}`, nestedObject(65)), 400, /nested deeper than 64 levels/);
    }
  });

  it("a 100,000-deep body is refused at once, and brackets inside strings do not count", async () => {
    await expectRefused(await post(`${base}/pipelines/echo`, nested(100_000)), 400, /nested deeper than 64/);
    const text = JSON.stringify({ s: "[".repeat(1000) + '\\"{{{' + "]".repeat(10) });
    const res = await post(`${base}/pipelines/echo`, text);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(text));
  });

  it("keeps fastify's prototype-poisoning protection", async () => {
    await expectRefused(await post(`${base}/pipelines/echo`, '{"__proto__":{"admin":true}}'), 400, /not valid JSON/);
    await expectRefused(await post(`${base}/pipelines/echo`, '{"constructor":{"prototype":{"admin":true}}}'), 400, /not valid JSON/);
    await expectRefused(await post(`${base}/pipelines/echo`, "{not json"), 400, /not valid JSON/);
  });

  it("the scan agrees with the depth of the parsed value, whatever strings hold (brackets, quotes, backslashes)", () => {
    const depthOf = (v: unknown): number => (typeof v === "object" && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    const text = fc.string({ unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", "\u00e9") });
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, text, fc.integer(), fc.array(tie("tree"), { maxLength: 3 }), fc.dictionary(text, tie("tree"), { maxKeys: 3 })),
    }));
    fc.assert(
      fc.property(tree, fc.integer({ min: 0, max: 6 }), (value, max) => {
        const json = JSON.stringify(value);
        const deep = depthOf(value) > max;
        if (deep) expect(() => checkJsonDepth(json, max)).toThrow(JsonDepthError);
        else expect(() => checkJsonDepth(json, max)).not.toThrow();
      }),
      { numRuns: 2000, seed: 18 },
    );
  });

  it("the OIP reader counts depth itself and on the text it hands to JSON.parse", () => {
    const fast = Buffer.from(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"parameters":{"p":${nested(70)}}}`);
    expect(() => parseInferRequestJson(fast)).toThrow(JsonDepthError);
    // A __proto__ key makes the fast reader give up before the deep part: JSON.parse would take it.
    const slow = Buffer.from(`{"__proto__":1,"parameters":{"p":${nested(100_000)}}}`);
    expect(() => parseInferRequestJson(slow)).toThrow(JsonDepthError);
    expect(parseInferRequestJson(Buffer.from(`{"p":${nested(60)}}`))).toEqual({ p: JSON.parse(nested(60)) });
  });

  it.each([["runtime", () => base], ["agent", () => agentBase]])("/v2 on the %s refuses deep bodies with a 400", async (_name, url) => {
    const body = `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":${nested(100_000)}}]}`;
    await expectRefused(await post(`${url()}/v2/models/echo/infer`, body), 400, /nested deeper than 64/);
    expect((await fetch(`${url()}/v2/health/live`)).status).toBe(200);
  });
});

const tensor = (t: Record<string, unknown>, name = "x") => JSON.stringify({ inputs: [{ name, ...t }] });

describe("OIP tensor checks", () => {
  const cases: [string, string, RegExp][] = [
    ["a negative dimension", tensor({ shape: [-1, 2], datatype: "FP32", data: [1, 2] }), /shape/],
    ["a fractional dimension", tensor({ shape: [1.5], datatype: "FP32", data: [1] }), /shape/],
    ["a shape product past 2^53", tensor({ shape: [2 ** 40, 2 ** 40], datatype: "FP32", data: [1] }), /over the limit of 2147483647 elements/],
    ["a shape product past the element limit", tensor({ shape: [65536, 65536], datatype: "UINT8", data: [1] }), /more than 2147483647 elements/],
    ["a huge dimension next to a 0", tensor({ shape: [0, 1e15], datatype: "FP32", data: [] }), /over the limit/],
    ["shape and data of different sizes", tensor({ shape: [2, 2], datatype: "FP32", data: [1, 2, 3] }), /3 elements, shape \[2,2\] needs 4/],
    ["an unknown datatype", tensor({ shape: [1], datatype: "FP17", data: [1] }), /datatype "FP17" is not supported/],
    ["FP16 (no typed array here)", tensor({ shape: [1], datatype: "FP16", data: [1] }), /not supported/],
    ["UINT8 over 255", tensor({ shape: [2], datatype: "UINT8", data: [1, 300] }), /element 1 is 300, expected an integer from 0 to 255/],
    ["UINT8 negative", tensor({ shape: [1], datatype: "UINT8", data: [-1] }), /from 0 to 255/],
    ["INT8 over 127", tensor({ shape: [1], datatype: "INT8", data: [200] }), /from -128 to 127/],
    ["INT16 not an integer", tensor({ shape: [1], datatype: "INT16", data: [1.5] }), /expected an integer/],
    ["UINT32 over 2^32", tensor({ shape: [1], datatype: "UINT32", data: [2 ** 32] }), /from 0 to 4294967295/],
    ["INT64 beyond its range", tensor({ shape: [1], datatype: "INT64", data: ["99999999999999999999"] }), /INT64's range/],
    ["a NaN string where a number is due", tensor({ shape: [2], datatype: "FP32", data: [1, "NaN"] }), /element 1 is "NaN", expected a number/],
    ["BYTES given numbers", tensor({ shape: [1], datatype: "BYTES", data: [1] }), /BYTES data must be strings/],
    ["BOOL given 2", tensor({ shape: [1], datatype: "BOOL", data: [2] }), /true or false/],
    ["data that is not an array", tensor({ shape: [1], datatype: "FP32", data: "1" }), /data must be an array/],
    ["a shape that is not an array", tensor({ shape: "1", datatype: "FP32", data: [1] }), /shape/],
    ["no inputs", JSON.stringify({ inputs: [] }), /at least one input/],
    ["100,000 inputs that are numbers", JSON.stringify({ inputs: Array.from({ length: 100_000 }, (_, i) => i) }), /100000 inputs, at most 1024/],
    ["1,000 bad inputs: the first ten issues named", JSON.stringify({ inputs: Array.from({ length: 1000 }, (_, i) => i) }), /inputs\.9: .*; and 990 more$/],
  ];
  for (const [surface, url] of [["runtime", () => base], ["agent", () => agentBase]] as const)
    it(`/v2 on the ${surface} refuses each bad tensor with a 400 and a reason`, async () => {
      for (const [what, body, reason] of cases) {
        const res = await post(`${url()}/v2/models/echo/infer`, body);
        const answer = (await res.json()) as { error: string };
        expect({ what, status: res.status, error: answer.error }).toEqual({ what, status: 400, error: expect.stringMatching(reason) });
      }
      expect((await fetch(`${url()}/v2/health/live`)).status).toBe(200);
    });

  it("the binary extension checks shapes and sizes too", async () => {
    const binary = (header: object, data: Uint8Array) => {
      const head = Buffer.from(JSON.stringify(header));
      return post(`${base}/v2/models/echo/infer`, Buffer.concat([head, data]), { "content-type": "application/octet-stream", "inference-header-content-length": String(head.length) });
    };
    const four = new Uint8Array(4);
    const input = (t: Record<string, unknown>, size = 4) => ({ inputs: [{ name: "x", parameters: { binary_data_size: size }, ...t }] });
    await expectRefused(await binary(input({ shape: [2 ** 40, 2 ** 40], datatype: "FP32" }), four), 400, /over the limit of 2147483647 elements/);
    await expectRefused(await binary(input({ shape: [65536, 65536], datatype: "UINT8" }), four), 400, /more than 2147483647 elements/);
    await expectRefused(await binary(input({ shape: [2], datatype: "FP32" }), four), 400, /binary_data_size is 4 bytes, shape \[2\] of FP32 needs 8/);
    await expectRefused(await binary(input({ shape: [1], datatype: "BYTES" }), new Uint8Array([255, 255, 255, 255])), 400, /runs past the data/);
    await expectRefused(await binary(input({ shape: [1], datatype: "FP32" }, 8), four), 400, /runs past the 4 bytes/);
    const ok = await binary(input({ shape: [1], datatype: "FP32" }), new Uint8Array(new Float32Array([2.5]).buffer));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { outputs: { data: number[] }[] }).outputs[0].data).toEqual([2.5]);
  });

  it("values in range still pass, as typed arrays", async () => {
    const res = await post(`${base}/v2/models/echo/infer`, tensor({ shape: [3], datatype: "INT8", data: [-128, 0, 127] }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outputs: { datatype: string; data: number[] }[] }).outputs[0]).toMatchObject({ datatype: "INT8", data: [-128, 0, 127] });
  });
});

describe("the agent's /metrics", () => {
  it("uses prom-client's standard default names, its own under evoflow_agent_", async () => {
    const text = await (await fetch(`${agentBase}/metrics`)).text();
    for (const name of ["process_cpu_seconds_total", "nodejs_heap_size_used_bytes", "evoflow_agent_model_loads_total"]) expect(text).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    expect(text).not.toMatch(/evoflow_process_/);
  });
});

describe("a model with no champion", () => {
  it.each([["runtime", () => base], ["agent", () => agentBase]])("/v2 on the %s says there is none and what versions there are (409)", async (_name, url) => {
    const row = tensor({ shape: [1, 5], datatype: "FP32", data: [1, 2, 3, 4, 5] }, "input");
    const res = await post(`${url()}/v2/models/fresh/infer`, row);
    await expectRefused(res, 409, /^no champion for fresh \(versions: 1 candidate, 1 rejected\)/);
    await expectRefused(await fetch(`${url()}/v2/models/fresh`), 409, /no champion for fresh/);
    // A pinned version still serves, and an unknown name is still 404.
    expect((await post(`${url()}/v2/models/fresh/versions/1/infer`, row)).status).toBe(200);
    await expectRefused(await post(`${url()}/v2/models/nope/infer`, tensor({ shape: [1], datatype: "FP32", data: [1] })), 404, /model nope not found/);
  });
});
