/**
 * A message JSON cannot hold (nested 100,000 deep, circular) never breaks the endpoints
 * that later show it: dead letters, the edge's tap (read back and live over WebSocket)
 * and its trace answer 200, the odd payload shown as a short note with the reason and
 * every other message intact. The body parser refuses such JSON over HTTP now, so it
 * arrives here the other ways it can: through the engine's entry point, and built by a node.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { z } from "zod";
import { allNodes } from "../../nodes";
import { createApi } from "../../runtime/api/server";
import { defineNode } from "../../sdk/contract";
import { NodeTypes } from "../../runtime/node-types";
import { port } from "../../sdk/ports";
import { Runtime } from "../../runtime/runtime";
import { tempDir } from "../agent/helpers";

function deepArray(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Refuses payloads marked bad; otherwise replies with a payload it builds: as deep as asked, or circular. */
const odd = defineNode({
  type: "test.odd",
  category: "transform",
  title: "Odd payloads",
  description: "Test node.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z.object({}),
  create: () => ({
    async onMessage(_p, m, emit) {
      const p = m.payload as { bad?: boolean; build?: "deep" | "circular" } | unknown[];
      if (Array.isArray(p) || (p as { bad?: boolean }).bad) throw new Error("refused");
      const build = (p as { build?: string }).build;
      if (build === "deep") return void (await emit("out", { made: deepArray(100_000) }));
      if (build === "circular") {
        const loop: Record<string, unknown> = { name: "loop" };
        loop.self = loop;
        return void (await emit("out", loop));
      }
      await emit("out", p);
    },
  }),
});

const EDGE = "h_out-o_in";
let runtime: Runtime;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  runtime = new Runtime({ nodeTypes: new NodeTypes([...allNodes, odd]), dataDir: tempDir("stored") });
  await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: "stored",
    nodes: [
      { id: "h", type: "io.http" },
      { id: "o", type: "test.odd" },
      { id: "log", type: "io.sink" },
    ],
    edges: [
      { from: "h.out", to: "o.in" },
      { from: "o.out", to: "log.in", mode: "async" },
    ],
  });
  app = await createApi({ runtime });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
});

const getJson = async (path: string) => {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const postJson = (body: unknown) => fetch(`${url}/pipelines/stored`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("stored messages JSON cannot hold", () => {
  it("a 100,000-deep refused payload: dead letters, tap and trace still answer 200 with a note", async () => {
    expect((await postJson({ bad: true, n: 1 })).status).toBe(422);
    const deep = deepArray(100_000);
    await expect(runtime.entrypoint("stored")!.invoke(deep, { traceId: "0af7651916cd43dd8448eb211c80319c" })).rejects.toThrow(/refused/);
    expect((await postJson({ bad: true, n: 2 })).status).toBe(422);

    const letters = await getJson("/api/pipelines/stored/dead-letters");
    expect(letters.status).toBe(200);
    const payloads = (letters.body.letters as { reason: string; message: { payload: unknown } }[]).map((l) => l.message.payload);
    expect(payloads).toEqual([{ bad: true, n: 1 }, { $unserialisable: expect.stringMatching(/nested too deep for JSON/) }, { bad: true, n: 2 }]);

    const tap = await getJson(`/api/pipelines/stored/edges/${EDGE}/messages`);
    expect(tap.status).toBe(200);
    expect((tap.body.messages as { payload: unknown }[]).map((m) => m.payload)).toEqual(payloads);

    const trace = await getJson("/api/traces/0af7651916cd43dd8448eb211c80319c");
    expect(trace.status).toBe(200);
    expect((trace.body.messages as { payload: unknown }[])[0].payload).toEqual({ $unserialisable: expect.stringMatching(/nested too deep/) });

    // The pipeline keeps serving.
    const res = await postJson({ fine: 1 });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { fine: 1 } });
  });

  it("payloads a node built, deep or circular, show as notes in the tap of the async edge", async () => {
    // The reply itself cannot be JSON: that request fails (the pipeline's fault), nothing else does.
    for (const build of ["deep", "circular"]) {
      const res = await postJson({ build });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 500, body: { error: expect.stringMatching(/^the reply of pipeline stored cannot be sent as JSON/) } });
    }
    await runtime.get("stored")!.idle();
    const tap = await getJson("/api/pipelines/stored/edges/o_out-log_in/messages");
    expect(tap.status).toBe(200);
    expect((tap.body.messages as { payload: unknown }[]).map((m) => m.payload)).toEqual([
      { fine: 1 },
      { $unserialisable: expect.stringMatching(/nested too deep/) },
      { $unserialisable: expect.stringMatching(/circular structure/) },
    ]);
    expect((await getJson("/api/pipelines/stored/dead-letters?limit=x")).status).toBe(400);
  });

  it("the live tap sends such a message as a note and keeps the socket and the pipeline going", async () => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/api/pipelines/stored/edges/${EDGE}/live?perSecond=1000`);
    const received: { message?: { payload: unknown } }[] = [];
    ws.on("message", (data) => received.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    await expect(runtime.entrypoint("stored")!.invoke(deepArray(100_000))).rejects.toThrow(/refused/);
    expect((await postJson({ after: 1 })).status).toBe(200);
    await expect.poll(() => received.filter((r) => r.message).length, { timeout: 5_000 }).toBe(2);
    expect(received.filter((r) => r.message).map((r) => r.message!.payload)).toEqual([{ $unserialisable: expect.stringMatching(/nested too deep/) }, { after: 1 }]);
    ws.close();
  });
});
