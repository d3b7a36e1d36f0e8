/**
 * Fuzzing inference requests (issue 18, point 8): valid bodies for the OIP routes
 * (POST /v2/models/<name>/infer, a registry model and two pipelines) and for POST /pipelines/<name>
 * (hello-http.json and a model pipeline), mutated: broken tensors (negative dims, overflowing shapes,
 * wrong datatypes, data that does not match), wrong types, huge numbers, NaN strings, deep nesting,
 * long strings, raw text that is not JSON, binary-extension bodies whose lengths lie. On a real
 * listening server: every answer below 500 and within 5 s, a JSON error on every 4xx, no uncaught
 * exception, and afterwards the pipelines still serve and their dead-letter and tap endpoints answer.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { createApi } from "../../runtime/api/server";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { tempDir } from "../agent/helpers";
import { makeMlp } from "../fixtures/mlp";
import { FUZZ_SEED, int, mutateAnywhere, nested, pick, preview, rngFor, setOwn, toJsonText, weirdValue, type Rng } from "./mutate";
import { watchUncaught } from "./uncaught";

const CASES = 1_200;
const root = join(import.meta.dirname, "../..");
const uncaught = watchUncaught();
const mlp = makeMlp({ sizes: [5, 10, 3], seed: 3, softmax: true });
const row = () => [0.1, -0.2, 0.3, 0.4, -0.5];

const scorePipeline = {
  apiVersion: "evoflow/v1",
  name: "score",
  nodes: [
    { id: "request", type: "io.http" },
    { id: "model", type: "model.onnx", config: { model: "iris@champion" } },
  ],
  edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
};

const v2Body = () => ({ id: "r1", inputs: [{ name: "input", shape: [2, 5], datatype: "FP32", data: [...row(), ...row()] }], outputs: [{ name: "output" }], parameters: {} });
/** Each route with a body it answers 200 to; the fuzz mutates these. */
const targets: { path: string; body: () => unknown }[] = [
  { path: "/v2/models/iris/infer", body: v2Body },
  { path: "/v2/models/iris/versions/1/infer", body: v2Body },
  { path: "/v2/models/score/infer", body: () => ({ ...v2Body(), outputs: undefined }) },
  { path: "/v2/models/hello/infer", body: () => ({ inputs: [{ name: "x", shape: [3], datatype: "FP32", data: [1, 2, 3] }] }) },
  { path: "/pipelines/hello", body: () => ({ x: [1, 2, 3] }) },
  { path: "/pipelines/score", body: () => ({ dtype: "float32", shape: [2, 5], data: [...row(), ...row()] }) },
];

const SHAPES = [[-1, 5], [0, 5], [2, -5], [1e10, 1e10], [2 ** 31, 2], [4e9], [], [1, 5, 1], [2.5, 5], ["2", 5], [null, 5], [1e300, 5], [2, 5, 0], [-0, 5], [2 ** 53, 2 ** 53]];
const DATATYPES = ["FP64", "INT8", "UINT8", "INT64", "UINT64", "BYTES", "BOOL", "FP16", "BF16", "nope", "", "fp32", 5, null];
const DATA = [[300, -1, 256, 1.5, 0, 1, 2, 3, 4, 5], [1, 2, 3], [], ["1", "2", "NaN", "Infinity", "x", 1, 2, 3, 4, 5], [[1, 2, 3, 4, 5], [1, 2]], [null, {}, [], true, 1, 2, 3, 4, 5, 6], "AAAA", { a: 1 }, 1e300];

/** A tensor-aware mutation of a v2 body (or a generic one); returns its description. */
function mutateInferBody(body: Record<string, unknown>, rng: Rng): string {
  const inputs = Array.isArray(body.inputs) ? (body.inputs as Record<string, unknown>[]) : undefined;
  const input = inputs?.length && typeof inputs[0] === "object" && inputs[0] !== null ? inputs[0] : undefined;
  const op = int(rng, 0, 9);
  if (input && op === 0) return `inputs[0].shape = ${JSON.stringify((input.shape = pick(rng, SHAPES)))}`;
  if (input && op === 1) return `inputs[0].datatype = ${JSON.stringify((input.datatype = pick(rng, DATATYPES)))}`;
  if (input && op === 2) return `inputs[0].data = ${preview((input.data = pick(rng, DATA)), 200)}`;
  if (input && op === 3) {
    const { value, label } = weirdValue(rng, true);
    setOwn(input, "parameters", pick(rng, [{ binary_data_size: value }, { content_type: value }, value]));
    return `inputs[0].parameters ~ ${label}`;
  }
  if (inputs && op === 4) {
    // At most ~4 MB of copies: an input an earlier step made huge, times 1,000, would not fit in a string.
    const count = Math.max(2, Math.min(pick(rng, [2, 100, 1_000]), Math.floor(4e6 / toJsonText(inputs[0]).length)));
    body.inputs = Array.from({ length: count }, () => structuredClone(inputs[0]));
    return `inputs × ${count}`;
  }
  if (op === 5) return `outputs = ${JSON.stringify((body.outputs = pick(rng, [[{ name: "nope" }], [{ name: {} }], "output", [{ name: "output", parameters: { binary_data: "yes" } }], [], null])))}`;
  if (op === 6) return `parameters = ${JSON.stringify((body.parameters = pick(rng, [{ binary_data_output: true }, { binary_data_output: "yes" }, [], "x", { __proto__x: 1 }])))}`;
  return mutateAnywhere(body, rng, true);
}

const RAW_TEXTS = ["", "{", "null", "[]", "1e400", "\ufeff{}", '{"a":1,"a":2}', '{"__proto__":{"polluted":1}}', '"str"', "NaN", "Infinity", "{\"inputs\": [", "\u0000", "{}".repeat(1000)];

interface Request {
  body: string | Buffer<ArrayBuffer>;
  headers: Record<string, string>;
  steps: string[];
}

/** One fuzzed request for a target: mostly a mutated JSON body, else raw text or a binary-extension body. */
function fuzzRequest(target: (typeof targets)[number], rng: Rng): Request {
  const json = { "content-type": rng() < 0.05 ? "text/plain" : pick(rng, ["application/json", "application/json; charset=utf-8"]) };
  const kind = rng();
  if (kind < 0.08) {
    const text = rng() < 0.3 ? `${"[".repeat(100_000)}${"]".repeat(100_000)}` : pick(rng, RAW_TEXTS);
    return { body: text, headers: json, steps: [`raw text ${preview(text, 80)}`] };
  }
  if (kind < 0.16 && target.path.startsWith("/v2/")) {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: "input", shape: [2, 5], datatype: pick(rng, ["FP32", "UINT8", "INT64", "BYTES"]), parameters: { binary_data_size: pick(rng, [40, 0, -1, 1e300, 39, 4e9]) } }] }));
    const tail = Buffer.alloc(pick(rng, [0, 12, 40, 41, 1000]), int(rng, 0, 255));
    const length = pick(rng, [String(header.length), "-1", "abc", "1e300", String(header.length + 10), "0", ""]);
    return {
      body: Buffer.concat([header, tail]),
      headers: { "content-type": "application/octet-stream", "inference-header-content-length": length },
      steps: [`binary: ${header.toString()} + ${tail.length} bytes, header length ${JSON.stringify(length)}`],
    };
  }
  const body = target.body() as Record<string, unknown>;
  const steps = Array.from({ length: int(rng, 1, 3) }, () => (target.path.startsWith("/v2/") ? mutateInferBody(body, rng) : mutateAnywhere(body, rng, true)));
  if (rng() < 0.03) {
    setOwn(body, "deep", nested(pick(rng, [60, 200]), "object"));
    steps.push("deep: objects nested 60-200 deep");
  }
  return { body: toJsonText(body), headers: json, steps };
}

let app: FastifyInstance;
let base: string;
let runtime: Runtime;
let models: LocalModels;
let registry: FsModelRegistry;

beforeAll(async () => {
  registry = new FsModelRegistry(tempDir("fuzz-registry"));
  await registry.register({ name: "iris", artifact: mlp.bytes });
  await registry.promote("iris", 1);
  const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 64 * 1024 * 1024, cacheDir: tempDir("fuzz-cache"), source: LocalModels.registrySource(registry) });
  models = new LocalModels(host, registry);
  runtime = new Runtime({ dataDir: tempDir("fuzz-data"), services: { registry, models } });
  await runtime.deploy(JSON.parse(readFileSync(join(root, "pipelines/hello-http.json"), "utf8")));
  await runtime.deploy(scorePipeline);
  app = await createApi({ runtime });
  base = await app.listen({ port: 0, host: "127.0.0.1" });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  await models?.close();
  await registry?.close();
});

const send = (path: string, r: Pick<Request, "body" | "headers">) => fetch(`${base}${path}`, { method: "POST", headers: r.headers, body: r.body, signal: AbortSignal.timeout(5_000) });

describe("fuzzed inference requests (real server)", () => {
  it("every target answers its unmutated body with 200 (so the mutations start from working requests)", async () => {
    for (const t of targets) {
      const res = await send(t.path, { body: JSON.stringify(t.body()), headers: { "content-type": "application/json" } });
      expect(res.status, `${t.path}: ${await res.clone().text()}`).toBe(200);
    }
  });

  it(`${CASES} mutated bodies: every answer below 500, within 5 s, a JSON error on each 4xx`, async () => {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const target = targets[i % targets.length];
      const r = fuzzRequest(target, rngFor("infer", i));
      const describeCase = (what: string) =>
        `${what}\n  replay: FUZZ_SEED=${FUZZ_SEED} infer case ${i}: POST ${target.path} ${JSON.stringify(r.headers)}\n  steps: ${r.steps.join("; ")}\n  body: ${preview(r.body.toString(), 600)}`;
      let status = 0;
      try {
        const res = await send(target.path, r);
        status = res.status;
        const text = await res.text();
        if (status >= 500) failures.push(describeCase(`status ${status}: ${text.slice(0, 300)}`));
        else if (status >= 400 && !/^\{.*"error"/s.test(text)) failures.push(describeCase(`status ${status} without a JSON error: ${text.slice(0, 300)}`));
      } catch (err) {
        failures.push(describeCase(`no answer within 5 s (${(err as Error).name}: ${(err as Error).message})`));
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    console.log(`inference fuzz (seed ${FUZZ_SEED}): statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    expect(failures, `${failures.length} failures; the first:\n${failures.slice(0, 5).join("\n\n")}`).toEqual([]);
  }, 240_000);

  it("afterwards the pipelines still serve, and their dead-letter, tap, health and metrics endpoints answer", async () => {
    const hello = await send("/pipelines/hello", { body: JSON.stringify({ x: [1, 2, 3] }), headers: { "content-type": "application/json" } });
    expect(await hello.json()).toEqual({ sum: 6, mean: 2, n: 3, pipeline: "hello" });
    for (const t of targets) expect((await send(t.path, { body: JSON.stringify(t.body()), headers: { "content-type": "application/json" } })).status, t.path).toBe(200);
    const gets = ["/v2/health/live", "/v2/health/ready", "/metrics", "/api/pipelines"];
    for (const p of runtime.list()) {
      gets.push(`/api/pipelines/${p.name}/dead-letters`, `/api/pipelines/${p.name}/status`);
      for (const e of p.compiled.edges) gets.push(`/api/pipelines/${p.name}/edges/${encodeURIComponent(e.id)}/messages`);
    }
    for (const path of gets) {
      const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
    }
  });

  it("no uncaught exception or unhandled rejection during the run", () => {
    expect(uncaught.errors.map((e) => (e as Error).stack ?? String(e))).toEqual([]);
  });
});
