/**
 * What the fuzz tests found, each as a named case on the real thing: a deploy through the API of
 * a real listening server, or a request to it. Named after what was wrong.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../runtime/api/server";
import { nodeTypes } from "../../runtime/node-types";
import { Runtime } from "../../runtime/runtime";
import type { ModelRegistry } from "../../sdk/registry";
import { createServices } from "../../runtime/services";
import { validatePipeline } from "../../runtime/validate";
import { makeMlp } from "../fixtures/mlp";
import { examples } from "./pipeline-mutations";

const example = (file: string) => structuredClone(examples.find((e) => e.file === file)!.pipeline) as unknown as { nodes: { id: string; config: Record<string, unknown> }[] } & Record<string, unknown>;
const node = (p: ReturnType<typeof example>, id: string) => p.nodes.find((n) => n.id === id)!;

let runtime: Runtime;
let app: FastifyInstance;
let url: string;
const dataDir = mkdtempSync(join(tmpdir(), "evoflow-fuzz-regressions-"));

beforeAll(async () => {
  const services = await createServices({ dataDir });
  runtime = new Runtime({ dataDir, services });
  // A model pipeline as the inference fuzz runs it: io.http into a registry model.
  const registry = services.registry as ModelRegistry;
  await registry.register({ name: "iris", artifact: makeMlp({ sizes: [5, 10, 3], seed: 3, softmax: true }).bytes });
  await registry.promote("iris", 1);
  await runtime.deploy(example("hello-http.json"));
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "score",
    nodes: [
      { id: "request", type: "io.http" },
      { id: "model", type: "model.onnx", config: { model: "iris@champion" } },
    ],
    edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
  });
  app = await createApi({ runtime });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  await app?.close();
  await runtime?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** io.http into `n` transform.set nodes in a row, all sync; `loop` joins the last back to the first. */
const syncChain = (n: number, loop: boolean) => ({
  apiVersion: "evoflow/v1",
  name: "chain",
  nodes: [{ id: "request", type: "io.http" }, ...Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type: "transform.set", config: { set: { last: i } } }))],
  edges: [{ from: "request.out", to: "n0.in" }, ...Array.from({ length: n - 1 }, (_, i) => ({ from: `n${i}.out`, to: `n${i + 1}.in` })), ...(loop ? [{ from: `n${n - 1}.out`, to: "n0.in" }] : [])],
});

const deploy = (pipeline: unknown) =>
  fetch(`${url}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline), signal: AbortSignal.timeout(5_000) });

describe("fuzz regressions: deploys", () => {
  // Found by deploy case 79 of seed 20261207: the registry refused the name when the node
  // started, which the API answered with 500. Now the node's schema holds the registry's rule.
  it.each(["//server/share", "../", "a..b"])("io.fashion-mnist bootstrap.model %j is a validation error (400), not a 500", async (model) => {
    const p = example("fashion-mnist-cl.json");
    (node(p, "fmnist").config.bootstrap as Record<string, unknown>).model = model;
    expect(new Set(validatePipeline(p, nodeTypes).problems.map((x) => x.path))).toEqual(new Set(["$.nodes[3].config.bootstrap.model"]));
    const res = await deploy(p);
    expect(res.status).toBe(400);
    expect((await res.json()).problems[0].path).toBe("$.nodes[3].config.bootstrap.model");
  });

  // Found by seeds 2 and 3 (deploy cases 73, 12, 48): "toString" and "constructor" are `in` every
  // object, so validate took them for ports and the engine failed wiring the edge (a 500).
  it.each(["ph.toString", "stream.constructor", "ks.__proto__", "ks.hasOwnProperty"])("an edge from %j is an unknown port (400), not a 500", async (from) => {
    const p = example("drift-monitor.json") as unknown as { edges: { from: string }[] };
    const at = p.edges.findIndex((e) => e.from.startsWith(`${from.split(".")[0]}.`));
    p.edges[at].from = from;
    const problems = validatePipeline(p, nodeTypes).problems;
    expect(problems).toEqual([expect.objectContaining({ path: `$.edges[${at}].from`, message: expect.stringMatching(/has no output port|must be "node.port"/) })]);
    const res = await deploy(p);
    expect(res.status).toBe(400);
    expect((await res.json()).problems).toEqual(problems);
  });

  // Found by the fuzz of documents that are not example mutants: validate's sync-cycle check
  // recursed once per edge, so a chain of 5,000 sync edges threw RangeError out of validatePipeline
  // (a crash of `evoflow validate`, a 500 from the API). It walks with a stack of its own now.
  it("a chain of 5,000 sync edges validates; closed into a loop it is a cycle problem", async () => {
    const looped = validatePipeline(syncChain(5_000, true), nodeTypes);
    const cycles = looped.problems.filter((p) => p.message.startsWith("sync edges form a cycle"));
    expect(cycles).toEqual([{ path: "$.edges[5000]", message: expect.stringMatching(/^sync edges form a cycle: n0 → n1 → .* → n4999 → n0;/) }]);
    expect(validatePipeline(syncChain(5_000, false), nodeTypes).problems).toEqual([]);
    const res = await deploy(syncChain(5_000, true));
    expect(res.status).toBe(400);
  });

  // Found by timing the validate fuzz (its slowest case, `edges` set to 100,000 numbers): with one
  // problem per element, `problems.push(...list)` passed 200,000 arguments and threw RangeError.
  it("100,000 empty nodes: 200,000 problems listed, no throw", () => {
    const r = validatePipeline({ apiVersion: "evoflow/v1", name: "x", nodes: Array.from({ length: 100_000 }, () => ({})), edges: [] }, nodeTypes);
    expect(r.problems).toHaveLength(200_000);
    expect(r.problems[199_999].path).toBe("$.nodes[99999].type");
  });

  // Found next to it: types passed down chains of sameAs nodes were resolved in rounds over every
  // node, each searching every edge: a 20,000-node drift chain listed last-first took minutes.
  it("a 20,000-node chain of sameAs nodes listed last-first validates (within the test's time)", () => {
    const m = 20_000;
    const nodes = Array.from({ length: m }, (_, i) => ({ id: `n${i}`, type: "drift.ddm", config: { value: "payload" } })).reverse();
    const edges = Array.from({ length: m - 1 }, (_, i) => ({ from: `n${i}.out`, to: `n${i + 1}.in`, mode: "async" }));
    expect(validatePipeline({ apiVersion: "evoflow/v1", name: "x", nodes, edges }, nodeTypes).problems).toEqual([]);
  }, 30_000);

  // And: 50,000 sync edges into one input made 49,999 messages each listing all 50,000 edge ids.
  it("50,000 sync edges into one input: each problem names at most 10 of them", () => {
    const r = validatePipeline({ apiVersion: "evoflow/v1", name: "x", nodes: [{ id: "a", type: "transform.set" }, { id: "b", type: "transform.set" }], edges: Array.from({ length: 50_000 }, (_, i) => ({ id: `e${i}`, from: "a.out", to: "b.in" })) }, nodeTypes);
    expect(r.problems).toHaveLength(49_999);
    expect(r.problems[0].message).toBe("input b.in is fed by 50000 sync edges (e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, … 49990 more) without a join: put a control.join before it or make all but one async");
  }, 30_000);

  // Found next to it: the engine ran a sync chain by nested calls, and about 800 nodes down a
  // request overflowed the stack (422 "Maximum call stack size exceeded" at node n797). The engine
  // now starts a fresh stack every 100 nested hops.
  it("a valid chain of 1,000 sync nodes answers its request", async () => {
    expect((await deploy(syncChain(1_000, false))).status).toBe(201);
    const reply = await fetch(`${url}/pipelines/chain`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}", signal: AbortSignal.timeout(5_000) });
    expect(await reply.json()).toEqual({ last: 999 });
    expect(reply.status).toBe(200);
  });

  // Found by seed 33, deploy case 94 (model.onnx config.model = "0x10"): a model the registry does
  // not hold is refused when the node starts, and the API answers that with 500. A deploy naming a
  // missing model is the client's mistake: a 4xx naming the node and the model.
  it("a model.onnx node naming a model the registry lacks: deploy is a 4xx naming it, not a 500", async () => {
    const res = await deploy({
      apiVersion: "evoflow/v1",
      name: "missing-model",
      nodes: [
        { id: "request", type: "io.http" },
        { id: "model", type: "model.onnx", config: { model: "0x10" } },
      ],
      edges: [{ from: "request.out", to: "model.in", mode: "sync" }],
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
    expect(res.status, JSON.stringify(body)).toBeLessThan(500);
    expect(JSON.stringify(body)).toMatch(/0x10/);
    expect(runtime.get("missing-model")).toBeUndefined();
  });

  // Found by seed 1, deploy case 114: a 200,000-character pipeline name passed the schema and
  // became a folder name: mkdir failed with ENAMETOOLONG, answered as a 500. Names are at most 128 now (schema.ts).
  it("a pipeline name of 200,000 characters is a validation error at $.name (400), not a 500", async () => {
    const p = example("hello-http.json");
    p.name = "x".repeat(200_000);
    expect(validatePipeline(p, nodeTypes).problems).toEqual([expect.objectContaining({ path: "$.name" })]);
    const res = await deploy(p);
    expect(res.status).toBe(400);
  });
});

const deep = (n: number) => `${"[".repeat(n)}1${"]".repeat(n)}`;
const post = (path: string, body: string) =>
  fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(5_000) });

describe("fuzz regressions: requests", () => {
  // Found by seeds 1 and 3 (infer cases 821, 761): a tensor's shape holding arrays nested 10,000
  // deep reached the model pipeline and overflowed the stack there: a 500. The JSON depth limit
  // (64, runtime/json-depth.ts) must refuse it before any route sees it.
  it("POST /pipelines/score with a shape nested 10,000 deep is a 400 naming the depth limit", async () => {
    const res = await post("/pipelines/score", `{"dtype":"float32","shape":[2,${deep(10_000)}],"data":[1,2,3,4,5,6,7,8,9,10]}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/nested deeper than 64/);
  });

  it("POST /pipelines/hello with arrays nested 10,000 deep is a 400 naming the depth limit, and hello still answers", async () => {
    const res = await post("/pipelines/hello", `{"x":${deep(10_000)}}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/nested deeper than 64/);
    expect(await (await post("/pipelines/hello", '{"x":[1,2,3]}')).json()).toEqual({ sum: 6, mean: 2, n: 3, pipeline: "hello" });
  });
});
