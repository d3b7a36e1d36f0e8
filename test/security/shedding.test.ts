/**
 * Load shedding against the real HTTP server: a sync pipeline over its in-flight limit,
 * or whose sync path feeds a full `block` edge, refuses new requests at once with 429
 * (503 on /v2) and Retry-After, counts them in /metrics, and serves every request it
 * admitted; nothing queues beyond the limits.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { allNodes } from "../../nodes";
import { createApi } from "../../runtime/api/server";
import { defineNode } from "../../sdk/contract";
import { NodeTypes } from "../../runtime/node-types";
import { port } from "../../sdk/ports";
import { Runtime } from "../../runtime/runtime";
import { tempDir } from "../agent/helpers";

/** Per key: how many messages the node is handling now and at most, and a gate it waits on (when set). */
const watch = new Map<string, { now: number; max: number; gate?: Promise<void> }>();
const watched = (key: string) => watch.get(key) ?? watch.set(key, { now: 0, max: 0 }).get(key)!;

const held = defineNode({
  type: "test.held",
  category: "transform",
  title: "Held",
  description: "Waits for its gate (or `ms`), then passes the payload on; counts how many it holds at once.",
  inputs: { in: port.any() },
  outputs: { out: port.sameAs("in") },
  config: z.object({ key: z.string(), ms: z.number().optional() }),
  create: (_ctx, config) => ({
    async onMessage(_p, m, emit) {
      const w = watched(config.key);
      w.max = Math.max(w.max, ++w.now);
      try {
        await (config.ms !== undefined ? new Promise((r) => setTimeout(r, config.ms)) : w.gate);
      } finally {
        w.now--;
      }
      await emit("out", m.payload);
    },
  }),
});

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

function gate(key: string): () => void {
  let open!: () => void;
  watched(key).gate = new Promise<void>((r) => (open = r));
  return open;
}

let runtime: Runtime;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  runtime = new Runtime({ nodeTypes: new NodeTypes([...allNodes, held, echo]), dataDir: tempDir("shedding") });
  app = await createApi({ runtime });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
});

const call = async (name: string, body: unknown) => {
  const res = await fetch(`${url}/pipelines/${name}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Record<string, unknown> };
};

async function metric(line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found ? Number(found.split(" ").pop()) : 0;
}

const single = (name: string, node: Record<string, unknown>, settings: Record<string, unknown>) => ({
  apiVersion: "evoflow/v1",
  name,
  nodes: [{ id: "h", type: "io.http" }, { id: "n", ...node }],
  edges: [{ from: "h.out", to: "n.in" }],
  settings,
});

describe("load shedding", () => {
  it("over settings.maxInFlight, new requests get 429 with Retry-After at once; the admitted ones are all served", async () => {
    await runtime.deploy(single("held", { type: "test.held", config: { key: "held" } }, { maxInFlight: 8 }));
    const open = gate("held");
    const answered: Awaited<ReturnType<typeof call>>[] = [];
    const all = Array.from({ length: 40 }, (_, i) => call("held", { i }).then((a) => (answered.push(a), a)));
    // The refused ones come back while the admitted ones are still held.
    await expect.poll(() => answered.length, { timeout: 10_000 }).toBe(32);
    expect(watched("held").now).toBe(8);
    expect(await metric(/^evoflow_requests_in_flight\{pipeline="held"\}/)).toBe(8);
    expect(answered.every((a) => a.status === 429 && a.retryAfter === "1" && /settings\.maxInFlight/.test(String(a.body.error)) && a.body.reason === "in-flight")).toBe(true);
    open();
    const results = await Promise.all(all);
    const served = results.filter((r) => r.status === 200);
    expect(served.length).toBe(8);
    for (const r of served) expect(r.body).toEqual({ i: expect.any(Number) });
    expect(watched("held").max).toBe(8);
    expect(await metric(/^evoflow_requests_shed_total\{pipeline="held",reason="in-flight"\}/)).toBe(32);
    expect(await metric(/^evoflow_requests_in_flight\{pipeline="held"\}/)).toBe(0);
    // Below the limit again: served.
    expect((await call("held", { again: true })).status).toBe(200);
  });

  it("hammered by many concurrent clients, a slow pipeline serves what it admits and sheds the rest, never over its limit", async () => {
    await runtime.deploy(single("slow", { type: "test.held", config: { key: "slow", ms: 5 } }, { maxInFlight: 16 }));
    const statuses = new Map<number, number>();
    let bad = 0;
    let inFlightSeen = 0;
    const sampler = setInterval(() => void metric(/^evoflow_requests_in_flight\{pipeline="slow"\}/).then((v) => (inFlightSeen = Math.max(inFlightSeen, v))), 20);
    await Promise.all(
      Array.from({ length: 64 }, async (_, client) => {
        for (let i = 0; i < 8; i++) {
          const r = await call("slow", { client, i });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          const ok = r.status === 200 ? r.body.client === client && r.body.i === i : r.status === 429 && r.retryAfter === "1" && typeof r.body.error === "string";
          if (!ok) bad++;
        }
      }),
    );
    clearInterval(sampler);
    expect(bad).toBe(0);
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    expect(statuses.get(200)! + statuses.get(429)!).toBe(64 * 8);
    expect(watched("slow").max).toBeLessThanOrEqual(16);
    expect(inFlightSeen).toBeLessThanOrEqual(16);
    expect(await metric(/^evoflow_requests_shed_total\{pipeline="slow",reason="in-flight"\}/)).toBe(statuses.get(429));
  });

  it("a full block edge on the sync path refuses requests (429, and 503 on /v2) instead of piling them up", async () => {
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "queued",
      nodes: [
        { id: "h", type: "io.http" },
        { id: "e", type: "test.echo" },
        { id: "c", type: "test.held", config: { key: "consumer" } },
      ],
      edges: [
        { from: "h.out", to: "e.in" },
        { from: "e.out", to: "c.in", mode: "async", queue: { capacity: 4, overflow: "block", concurrency: 1 } },
      ],
    });
    const open = gate("consumer");
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call("queued", { i })));
    // One message in the consumer, four queued: the fifth filled the edge.
    expect(results.filter((r) => r.status === 200).length).toBe(5);
    const refused = results.filter((r) => r.status === 429);
    expect(refused.length).toBe(15);
    expect(refused.every((r) => r.retryAfter === "1" && r.body.reason === "queue-full" && /async edge e_out-c_in of pipeline queued is full/.test(String(r.body.error)))).toBe(true);
    expect(await metric(/^evoflow_edge_queue_depth\{pipeline="queued",edge="e_out-c_in"\}/)).toBe(4);

    const v2 = await fetch(`${url}/v2/models/queued/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "x", shape: [1], datatype: "FP32", data: [1] }] }),
    });
    expect({ status: v2.status, retryAfter: v2.headers.get("retry-after"), body: await v2.json() }).toEqual({
      status: 503,
      retryAfter: "1",
      body: { error: expect.stringMatching(/is full/), reason: "queue-full" },
    });
    expect(await metric(/^evoflow_requests_shed_total\{pipeline="queued",reason="queue-full"\}/)).toBe(16);

    open();
    await runtime.get("queued")!.idle();
    expect(watched("consumer").max).toBe(1);
    expect((await call("queued", { after: true })).status).toBe(200);
  });

  it("/metrics keeps prom-client's standard default names, Evoflow's own under evoflow_", async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes", "nodejs_eventloop_lag_seconds"])
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    expect(text).not.toMatch(/evoflow_process_/);
    const own = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]).filter((n) => !/^(process_|nodejs_)/.test(n));
    expect(own.length).toBeGreaterThan(5);
    expect(own.filter((n) => !n.startsWith("evoflow_"))).toEqual([]);
  });
});
