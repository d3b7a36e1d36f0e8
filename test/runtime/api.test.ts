import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createApi } from "../../runtime/api/server";
import { Runtime } from "../../runtime/runtime";
import { probe, testNodeTypes } from "./helpers";

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "api",
  nodes: [
    { id: "h", type: "io.http" },
    { id: "picky", type: "test.recorder", config: { key: "api-picky" } },
    { id: "log", type: "io.sink" },
  ],
  edges: [
    { from: "h.out", to: "picky.in" },
    { from: "h.out", to: "log.in", mode: "async" },
  ],
};

describe("HTTP API", () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    probe("api-picky", { fail: (m) => (m.payload as { bad?: boolean }).bad === true });
    runtime = new Runtime({ nodeTypes: testNodeTypes, dataDir: "/tmp/evoflow-api-test" });
    app = await createApi({ runtime });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
    const res = await fetch(`${url}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline) });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await app.close();
    await runtime.close();
  });

  const post = (path: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(`${url}${path}`, { method: "POST", headers, body });

  it("runs a sync pipeline and returns its output with the trace id", async () => {
    const res = await post("/pipelines/api", JSON.stringify({ x: 1 }), {
      "content-type": "application/json",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ x: 1 });
    expect(res.headers.get("x-trace-id")).toBe("0af7651916cd43dd8448eb211c80319c");
    const trace = (await (await fetch(`${url}/api/traces/0af7651916cd43dd8448eb211c80319c`)).json()) as { outputs: unknown[] };
    expect(trace.outputs).toEqual([expect.objectContaining({ node: "picky", payload: { x: 1 }, parents: [expect.objectContaining({ node: "h", parents: [] })] })]);
  });

  it("answers bad requests with a 4xx and a JSON error body", async () => {
    const cases: [Promise<Response>, number][] = [
      [post("/pipelines/nope", "{}"), 404],
      [post("/pipelines/api", "{not json"), 400],
      [post("/pipelines/api", JSON.stringify({ bad: true })), 422],
      [fetch(`${url}/api/pipelines/nope/status`), 404],
      [fetch(`${url}/api/pipelines/api/edges/nope/messages`), 404],
      [fetch(`${url}/api/pipelines/api/edges/h_out-log_in/messages?limit=-1`), 400],
      [fetch(`${url}/api/nowhere`), 404],
      [fetch(`${url}/api/traces/00000000000000000000000000000001`), 404],
    ];
    for (const [response, status] of cases) {
      const res = await response;
      expect(res.status, res.url).toBe(status);
      expect(res.headers.get("content-type")).toMatch(/application\/json/);
      expect(typeof ((await res.json()) as { error: unknown }).error).toBe("string");
    }
  });

  it("keeps serving after a bad message, which is in the dead letters with its reason", async () => {
    const bad = await post("/pipelines/api", JSON.stringify({ bad: true, n: 1 }));
    expect(await bad.json()).toMatchObject({ node: "picky", port: "in", error: expect.stringContaining("refused") });
    const good = await post("/pipelines/api", JSON.stringify({ n: 2 }));
    expect(good.status).toBe(200);
    const letters = (await (await fetch(`${url}/api/pipelines/api/dead-letters`)).json()) as { letters: { reason: string; message: { payload: unknown } }[] };
    expect(letters.letters.at(-1)).toMatchObject({ reason: expect.stringContaining("refused"), message: { payload: { bad: true, n: 1 } } });
  });

  it("refuses an invalid pipeline with every problem and its path", async () => {
    const res = await post("/api/pipelines", JSON.stringify({ ...pipeline, nodes: [...pipeline.nodes, { id: "h", type: "io.what" }] }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { problems: { path: string }[] };
    expect(body.problems.map((p) => p.path)).toEqual(["$.nodes[3].id"]);
    const validated = (await (await post("/api/validate", JSON.stringify({ apiVersion: "evoflow/v1", name: "x", nodes: [{ id: "a", type: "io.what" }] }))).json()) as { ok: boolean; problems: unknown[] };
    expect(validated).toEqual({ ok: false, problems: [{ path: "$.nodes[0].type", message: 'unknown node type "io.what"' }] });
  });

  it("serves tapped messages, recent and live over WebSocket", async () => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/api/pipelines/api/edges/h_out-log_in/live`);
    await new Promise((r) => ws.once("open", r));
    // Skip the rate ticks ({edge, seen}) that come every 250 ms.
    const live = new Promise<{ edge: string; message: { payload: unknown } }>((resolve) =>
      ws.on("message", (d) => {
        const parsed = JSON.parse(String(d));
        if (parsed.message) resolve(parsed);
      }),
    );
    await post("/pipelines/api", JSON.stringify({ live: true }));
    expect(await live).toMatchObject({ edge: "h_out-log_in", message: { payload: { live: true } } });
    ws.close();
    const recent = (await (await fetch(`${url}/api/pipelines/api/edges/h_out-log_in/messages?limit=1`)).json()) as { total: number; messages: { payload: unknown }[] };
    expect(recent.messages).toEqual([expect.objectContaining({ payload: { live: true } })]);
    expect(recent.total).toBeGreaterThan(1);
  });

  it("exposes Prometheus metrics per node and per edge", async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/evoflow_node_messages_in_total\{pipeline="api",node="picky"\} [1-9]/);
    expect(text).toMatch(/evoflow_node_errors_total\{pipeline="api",node="picky"\} [1-9]/);
    expect(text).toMatch(/evoflow_node_latency_seconds_bucket\{le="0.001",pipeline="api",node="picky"\}/);
    expect(text).toMatch(/evoflow_edge_queue_depth\{pipeline="api",edge="h_out-log_in"\} 0/);
    expect(text).toMatch(/evoflow_dead_letters_total\{pipeline="api"\} [1-9]/);
  });

  it("requires the token when started with one", async () => {
    const guarded = await createApi({ runtime, auth: { tokens: { s3cret: "operator" } } });
    const guardedUrl = await guarded.listen({ port: 0, host: "127.0.0.1" });
    try {
      const denied = await fetch(`${guardedUrl}/api/pipelines`);
      expect(denied.status).toBe(401);
      expect(await denied.json()).toEqual({ error: expect.stringContaining("token") });
      const allowed = await fetch(`${guardedUrl}/api/pipelines`, { headers: { authorization: "Bearer s3cret" } });
      expect(allowed.status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
