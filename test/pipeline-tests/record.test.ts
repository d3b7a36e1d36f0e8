/**
 * Recording a case from live traffic and replaying it: the test routes (testing/pipeline/routes.ts)
 * behind the real access checks, the editor's recording core (editor/src/core/pipeline-tests.ts)
 * on a real trace, and the saved file replayed by the real `evoflow test`.
 */
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, copyFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { recordCase, withCase } from "../../editor/src/core/pipeline-tests";
import type { Trace } from "../../editor/src/api";
import { createApi } from "../../runtime/api/server";
import { NodeTypes, nodeTypes } from "../../runtime/node-types";
import { defineNode, port } from "../../sdk";
import { Runtime } from "../../runtime/runtime";
import { pipelineTestRoutes } from "../../testing/pipeline/routes";
import { evoflow } from "../nats/cli";

const ROOT = resolve(import.meta.dirname, "../..");
const OPERATOR = "op-token";
const VIEWER = "viewer-token";

describe("save as test, list and run over HTTP", () => {
  let dir: string;
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  const as = (token: string, headers: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...headers });
  const json = { "content-type": "application/json" };
  const call = async (method: string, path: string, token = OPERATOR, body?: unknown, headers: Record<string, string> = json) => {
    const res = await fetch(`${url}${path}`, { method, headers: as(token, body === undefined ? {} : headers), body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: string } };
  };
  const pipelineJson = () => JSON.parse(readFileSync(join(dir, "hello-http.json"), "utf8"));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evoflow-record-"));
    copyFileSync(join(ROOT, "pipelines/hello-http.json"), join(dir, "hello-http.json"));
    runtime = new Runtime({ dataDir: join(dir, "data"), log: () => {} });
    await runtime.deploy(pipelineJson());
    app = await createApi({ runtime, auth: { tokens: { [OPERATOR]: "operator", [VIEWER]: "viewer" } }, routes: [pipelineTestRoutes(new Map([["hello", join(dir, "hello-http.json")]]))] });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await app?.close();
    await runtime?.close();
  });

  /** Sends a request and records its case on `edge` as the editor does: the trace, then the recording core. */
  async function recorded(name: string, edge: { id: string; node: string; port: string }, x: number[]) {
    const res = await fetch(`${url}/pipelines/hello`, { method: "POST", headers: as(VIEWER, json), body: JSON.stringify({ x }) });
    expect(res.status).toBe(200);
    const trace = (await call("GET", `/api/traces/${res.headers.get("x-trace-id")}`, VIEWER)).body as unknown as Trace;
    return recordCase(name, edge, [trace]);
  }

  it("writes the recorded case beside the pipeline file, lists it, and runs it green", async () => {
    expect((await call("GET", "/api/pipelines/hello/tests", VIEWER)).body).toEqual({ file: expect.stringMatching(/hello-http\.test\.json$/), exists: false, tests: { cases: [] } });
    const testCase = await recorded("sums 1 2 3", { id: "stats_out-tag_in", node: "stats", port: "out" }, [1, 2, 3]);
    expect(testCase).toEqual({
      name: "sums 1 2 3",
      inputs: [{ node: "request", port: "out", payloads: [{ x: [1, 2, 3] }] }],
      expect: [{ at: "stats_out-tag_in", payloads: [{ sum: 6, mean: 2, n: 3 }] }],
    });
    const saved = await call("PUT", "/api/pipelines/hello/tests", OPERATOR, withCase({ cases: [] }, testCase));
    expect(saved.status, saved.body.error).toBe(200);
    expect(JSON.parse(readFileSync(join(dir, "hello-http.test.json"), "utf8")).cases).toEqual([testCase]);

    const listed = await call("GET", "/api/pipelines/hello/tests", VIEWER);
    expect(listed.body.exists).toBe(true);
    expect((listed.body.tests as { cases: { name: string }[] }).cases.map((c) => c.name)).toEqual(["sums 1 2 3"]);

    const run = await call("POST", "/api/pipelines/hello/tests/run", OPERATOR, {});
    expect(run.status, run.body.error).toBe(200);
    expect(run.body.cases).toEqual([{ name: "sums 1 2 3", ms: expect.any(Number), failures: [] }]);
  });

  it("runs against the pipeline as deployed now: a changed pipeline fails with a diff", async () => {
    const changed = pipelineJson();
    changed.nodes.find((n: { id: string }) => n.id === "stats").config.expression = '{ "sum": $sum(x) + 1, "mean": $average(x), "n": $count(x) }';
    await runtime.deploy(changed);
    const run = await call("POST", "/api/pipelines/hello/tests/run", OPERATOR, {});
    const [result] = run.body.cases as { failures: string[] }[];
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toContain("stats_out-tag_in: payloads differ");
    expect(result.failures[0]).toMatch(/\n- +"sum": 6\n\+ +"sum": 7\n/);
    await runtime.deploy(pipelineJson());
  });

  it("lets a viewer list but not save or run, and refuses other sites, non-JSON bodies and invalid files", async () => {
    const file = { cases: [{ name: "x", expect: [{ at: "tag.out", count: 1 }] }] };
    expect((await call("PUT", "/api/pipelines/hello/tests", VIEWER, file)).status).toBe(403);
    expect((await call("POST", "/api/pipelines/hello/tests/run", VIEWER, {})).status).toBe(403);
    expect((await call("PUT", "/api/pipelines/hello/tests", OPERATOR, file, { "content-type": "text/plain" })).status).toBe(415);
    expect((await call("PUT", "/api/pipelines/hello/tests", OPERATOR, file, { ...json, origin: "http://evil.example" })).status).toBe(403);
    const invalid = await call("PUT", "/api/pipelines/hello/tests", OPERATOR, { cases: [{ name: "x", expect: [{ at: "tag.out" }] }] });
    expect(invalid.status).toBe(400);
    expect(invalid.body.problems).toEqual([{ path: "$.cases[0].expect[0]", message: expect.stringContaining("give payloads, count, nothing, every or some") }]);
    expect((await call("GET", "/api/pipelines/nope/tests", VIEWER)).status).toBe(404);
    // Nothing of those reached the file.
    expect(JSON.parse(readFileSync(join(dir, "hello-http.test.json"), "utf8")).cases.map((c: { name: string }) => c.name)).toEqual(["sums 1 2 3"]);
  });

  it("keeps the cases of a pipeline deployed through the API in the data folder, beside the pipeline as deployed", async () => {
    const other = { ...pipelineJson(), name: "hello-api", nodes: pipelineJson().nodes.map((n: { id: string }) => (n.id === "request" ? { ...n, config: { path: "hello-api" } } : n)) };
    await runtime.deploy(other);
    const res = await fetch(`${url}/pipelines/hello-api`, { method: "POST", headers: as(VIEWER, json), body: JSON.stringify({ x: [4] }) });
    const trace = (await call("GET", `/api/traces/${res.headers.get("x-trace-id")}`, VIEWER)).body as unknown as Trace;
    const testCase = recordCase("four", { id: "request_out-log_in", node: "request", port: "out" }, [trace]);
    const saved = await call("PUT", "/api/pipelines/hello-api/tests", OPERATOR, { cases: [testCase] });
    expect(saved.body.file).toMatch(/data\/tests\/hello-api\.test\.json$/);
    expect(JSON.parse(readFileSync(join(dir, "data/tests/hello-api.json"), "utf8")).name).toBe("hello-api");
    expect((await call("POST", "/api/pipelines/hello-api/tests/run", OPERATOR, {})).body.cases).toEqual([{ name: "four", ms: expect.any(Number), failures: [] }]);
    await runtime.undeploy("hello-api");
  });

  it("a recorded case replays green through evoflow test", async () => {
    const cli = evoflow(["test", join(dir, "hello-http.json")]);
    const code = await new Promise<number | null>((r) => cli.child.once("exit", r));
    expect(cli.output).toContain("ok    sums 1 2 3");
    expect(code, cli.output).toBe(0);
  }, 60_000);

  it("runs the cases with the server's grants: a node needing exec runs where the server grants it", async () => {
    const runsCommands = defineNode({
      type: "test.runs-commands",
      category: "transform",
      title: "Needs exec",
      description: "Declares exec, as a node running a process would, and passes messages on.",
      capabilities: ["exec"],
      inputs: { in: port.any() },
      outputs: { out: port.any() },
      config: z.object({}),
      create: () => ({
        onMessage: async (_port, message, emit) => {
          await emit("out", message.payload);
        },
      }),
    });
    const types = new NodeTypes([...nodeTypes.list(), runsCommands], nodeTypes.packages, nodeTypes.loadedWith);
    const granting = new Runtime({ dataDir: join(dir, "granting"), nodeTypes: types, grants: ["exec"], log: () => {} });
    const pipeline = { apiVersion: "evoflow/v1", name: "execs", nodes: [{ id: "request", type: "io.http" }, { id: "cmd", type: "test.runs-commands" }], edges: [{ from: "request.out", to: "cmd.in", mode: "sync" }] };
    await granting.deploy(pipeline);
    const grantingApp = await createApi({ runtime: granting, routes: [pipelineTestRoutes(new Map())] });
    try {
      const headers = { host: "127.0.0.1", ...json };
      const file = { cases: [{ name: "passes on", inputs: [{ node: "request", payloads: [{ a: 1 }] }], expect: [{ at: "cmd.out", payloads: [{ a: 1 }] }] }] };
      expect((await grantingApp.inject({ method: "PUT", url: "/api/pipelines/execs/tests", headers, payload: file })).statusCode).toBe(200);
      const run = await grantingApp.inject({ method: "POST", url: "/api/pipelines/execs/tests/run", headers, payload: {} });
      expect(run.json().cases).toEqual([{ name: "passes on", ms: expect.any(Number), failures: [] }]);
    } finally {
      await grantingApp.close();
      await granting.close();
    }
  });

  it("refuses a test file that is a symlink leading out of the pipeline's folder", async () => {
    const outside = mkdtempSync(join(tmpdir(), "evoflow-outside-"));
    writeFileSync(join(outside, "secret.test.json"), JSON.stringify({ cases: [] }));
    const linked = mkdtempSync(join(tmpdir(), "evoflow-linked-"));
    copyFileSync(join(dir, "hello-http.json"), join(linked, "linked.json"));
    symlinkSync(join(outside, "secret.test.json"), join(linked, "linked.test.json"));
    const linkedApp = await createApi({ runtime, routes: [pipelineTestRoutes(new Map([["hello", join(linked, "linked.json")]]))] });
    try {
      const res = await linkedApp.inject({ method: "PUT", url: "/api/pipelines/hello/tests", headers: { host: "127.0.0.1", ...json }, payload: { cases: [{ name: "x", expect: [{ at: "tag.out", count: 1 }] }] } });
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatch(/linked\.test\.json/);
      expect(JSON.parse(readFileSync(join(outside, "secret.test.json"), "utf8"))).toEqual({ cases: [] });
      expect(existsSync(join(linked, "linked.test.json"))).toBe(true);
    } finally {
      await linkedApp.close();
    }
  });
});
