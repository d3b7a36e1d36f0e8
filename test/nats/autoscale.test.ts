/**
 * Autoscaling on lag against a real nats-server: a coordinator (`evoflow run --nats`), a
 * supervisor (`evoflow supervise`) and the worker processes it starts for `slow`, a node that
 * takes 50 ms per message (1 replica: 20 messages/s) scaled between 1 and 3 replicas at a
 * targetLag of 20 with a 2 s cool-down. The test is the producer: it publishes on the async edge
 * into `slow` as `feed` would (feed's placement is a group nobody runs). A burst raises the lag
 * → 3 replicas, the lag drains; a trickle goes on while the supervisor takes replicas away, so
 * the stopped workers have messages in hand; when the load stops it is back to 1. Every message
 * published arrives at the sink exactly once, and the replicas taken away exit cleanly (code 0,
 * not killed). The scaling events are in the pipeline's status and the supervisor's /metrics.
 * ackWait stays at its 30 s, longer than the burst takes on one replica: the replicas added share
 * the backlog because it waits in the stream (the consumer's max_ack_pending), not because the
 * first replica's messages timed out and were redelivered.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMessage } from "../../runtime/envelope";
import { NatsTransport } from "../../runtime/transport/nats";
import { consumerName, streamName } from "../../runtime/transport/nats-names";
import type { EdgeInfo, ScalingEvent } from "../../runtime/transport/transport";
import { evoflow, until, type CliProcess } from "./cli";
import { freePort, NatsServer } from "./server";

const SLOW_PACKAGE = resolve(import.meta.dirname, "slow-node-package");
const BURST = 240;
const TRICKLE_PER_SECOND = 15;

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "autoscale",
  nodes: [
    { id: "feed", type: "io.generator", placement: "outside", config: { source: { kind: "synthetic", count: 1 } } },
    { id: "slow", type: "slowtest.delay", placement: "slow", scale: { minReplicas: 1, maxReplicas: 3, targetLag: 20, cooldownSeconds: 2 }, config: { ms: 50 } },
    { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
  ],
  edges: [
    // A small pull-ahead per replica, so a new replica finds work in the stream (see scale.targetLag).
    { from: "feed.out", to: "slow.in", mode: "async", queue: { capacity: 16 } },
    { from: "slow.out", to: "out.in", mode: "async" },
  ],
};

/** The async edge into `slow`, as its producer `feed` would publish on it. */
const feedEdge = (name: string): EdgeInfo => ({
  id: "feed_out-slow_in",
  pipeline: name,
  from: { node: "feed", port: "out" },
  to: { node: "slow", port: "in" },
  mode: "async",
  queue: { capacity: 1024, overflow: "block", concurrency: 1 },
});
const FEED = feedEdge("autoscale");

/** `slow` without `scale`, run by a worker the test starts and stops itself. */
const graceful = {
  apiVersion: "evoflow/v1",
  name: "graceful",
  nodes: [
    { id: "feed", type: "io.generator", placement: "outside", config: { source: { kind: "synthetic", count: 1 } } },
    { id: "slow", type: "slowtest.delay", placement: "g", config: { ms: 100 } },
    { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
  ],
  edges: [
    { from: "feed.out", to: "slow.in", mode: "async", queue: { capacity: 16 } },
    { from: "slow.out", to: "out.in", mode: "async" },
  ],
};

function sinkRecords(file: string): { i: number; pid: number }[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((l) => JSON.parse(l).payload);
}

const gauge = (metrics: string, name: string) => Number(new RegExp(`^${name}\\{pipeline="autoscale",node="slow"\\} (\\S+)$`, "m").exec(metrics)?.[1]);

describe("autoscaling on lag", () => {
  let server: NatsServer;
  let dir: string;
  let api: string;
  let producer: NatsTransport;
  let supervisor: CliProcess;
  const processes: CliProcess[] = [];

  const status = async () =>
    (await (await fetch(`${api}/api/pipelines/autoscale/status`)).json()) as { scaling?: ScalingEvent[]; placement: Record<string, { replicas: number }> };
  const lag = async () => {
    const ci = await producer.jsm.consumers.info(streamName("autoscale"), consumerName(FEED.id));
    return ci.num_pending + ci.num_ack_pending;
  };
  let sent = 0;
  const send = async () => {
    await producer.publishAsync(FEED, createMessage({ pipeline: "autoscale", node: "feed", port: "out" }, { i: sent++ }));
  };

  beforeAll(async () => {
    server = await NatsServer.start();
    dir = mkdtempSync(join(tmpdir(), "evoflow-autoscale-"));
    writeFileSync(join(dir, "autoscale.json"), JSON.stringify(pipeline));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const coordinator = evoflow(["run", join(dir, "autoscale.json"), "--nats", server.url, "--port", String(port), "--data", join(dir, "coord"), "--no-auth", "--nodes", SLOW_PACKAGE]);
    processes.push(coordinator);
    await coordinator.waitFor(/listening on/);
    supervisor = evoflow(["supervise", "--nats", server.url, "--pipeline", "autoscale", "--data", join(dir, "workers"), "--node-packages", SLOW_PACKAGE, "--interval", "250", "--metrics-port", "0"]);
    processes.push(supervisor);
    producer = await NatsTransport.connect({ servers: server.url, role: "worker" });
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    // The supervisor first, so it stops its workers; then the coordinator.
    for (const p of processes.reverse()) await p.kill("SIGTERM");
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("scales up on a backlog, drains it, scales down under load without losing a message, and rests at the minimum", async () => {
    const metricsUrl = (await supervisor.waitFor(/metrics on (http:\/\/\S+)/))[1];
    await supervisor.waitFor(/autoscale\/slow 0 → 1 replicas: below minReplicas 1/);
    await supervisor.waitFor(/running autoscale: slow/);

    // Load rises: a burst 12 times targetLag → maxReplicas, all 3 running (their heartbeats in the status).
    for (let n = 0; n < BURST; n++) await send();
    await supervisor.waitFor(/autoscale\/slow [12] → 3 replicas: lag \d+ over targetLag 20/, 20_000);
    await until("3 replicas running", async () => ((await status()).placement.slow.replicas === 3 ? true : undefined), 30_000);

    // A trickle 1 replica can take, until after the supervisor took replicas away (they stop with messages in hand).
    const trickleUntil = async (done: () => boolean, capMs: number) => {
      const deadline = Date.now() + capMs;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`trickle ran ${capMs} ms without the supervisor scaling down:\n${supervisor.output}`);
        await send();
        await new Promise((r) => setTimeout(r, 1000 / TRICKLE_PER_SECOND));
      }
    };
    await trickleUntil(() => /autoscale\/slow [23] → 1 replicas/.test(supervisor.output), 60_000);
    const downAtSent = sent;
    const trickleEnd = Date.now() + 3000;
    await trickleUntil(() => Date.now() > trickleEnd, 10_000);
    expect(sent).toBeGreaterThan(downAtSent);

    // Load stops: every message at the sink exactly once, the edge drained.
    const sink = join(dir, "coord/autoscale/out.jsonl");
    await until(`${sent} messages at the sink`, async () => (sinkRecords(sink).length >= sent && (await lag()) === 0 ? true : undefined), 60_000);
    const records = sinkRecords(sink);
    expect(records.map((r) => r.i).sort((a, b) => a - b)).toEqual(Array.from({ length: sent }, (_, i) => i));
    // The backlog was shared: the burst went through 3 processes.
    expect(new Set(records.filter((r) => r.i < BURST).map((r) => r.pid)).size).toBe(3);

    // The replicas taken away finished their messages and exited by themselves; back at the minimum.
    await until("the 2 replicas taken away stopped", () => ((supervisor.output.match(/replica \d+ stopped \(code 0\)/g) ?? []).length === 2 ? true : undefined), 30_000);
    expect(supervisor.output).not.toMatch(/stopped \(signal SIGKILL\)|exited unasked/);
    expect((await status()).placement.slow.replicas).toBe(1);

    // The scaling history, in the pipeline's status: up to 3 on the burst, down to 1 after it.
    const events = (await status()).scaling ?? [];
    expect(events[0]).toMatchObject({ from: 0, to: 1, reason: "below minReplicas 1" });
    const ups = events.filter((e) => e.to > e.from);
    const downs = events.filter((e) => e.to < e.from);
    expect(Math.max(...events.map((e) => e.to))).toBe(3);
    expect(events.at(-1)).toMatchObject({ to: 1 });
    expect(Math.min(...downs.map((e) => e.ts))).toBeGreaterThan(Math.max(...ups.map((e) => e.ts)));
    const burst = ups.at(-1)!;
    expect(burst).toMatchObject({ pipeline: "autoscale", node: "slow", reason: expect.stringContaining("over targetLag 20") });
    expect(burst.lag).toBeGreaterThan(40);
    expect(burst.pending + burst.ackPending).toBe(burst.lag);

    // The supervisor's /metrics, once its next look has seen the drained edge.
    const metrics = await until("the lag gauge at 0", async () => {
      const text = await (await fetch(metricsUrl)).text();
      return gauge(text, "evoflow_node_lag") === 0 ? text : undefined;
    }, 10_000);
    expect(gauge(metrics, "evoflow_node_replicas")).toBe(1);
    expect(gauge(metrics, "evoflow_node_replicas_desired")).toBe(1);
    // 50 ms per message, measured from what the consumer acknowledged between two looks: allow a busy machine.
    expect(gauge(metrics, "evoflow_node_seconds_per_message")).toBeGreaterThan(0.03);
    expect(metrics).toMatch(new RegExp(`^evoflow_scaling_events_total\\{pipeline="autoscale",node="slow",direction="up"\\} ${ups.length}$`, "m"));
    expect(metrics).toMatch(new RegExp(`^evoflow_scaling_events_total\\{pipeline="autoscale",node="slow",direction="down"\\} ${downs.length}$`, "m"));
  }, 180_000);

  it("a worker told to stop (SIGTERM) finishes the message it runs, hands back those it holds, and exits at once", async () => {
    const deployed = await fetch(`${api}/api/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(graceful) });
    expect(deployed.status).toBe(201);
    const worker = (name: string) => evoflow(["worker", "--nats", server.url, "--pipeline", "graceful", "--nodes", "slow", "--data", join(dir, name), "--node-packages", SLOW_PACKAGE]);
    const first = worker("first");
    processes.push(first);
    await first.waitFor(/running graceful: slow/);
    const edge = feedEdge("graceful");
    for (let i = 0; i < 60; i++) await producer.publishAsync(edge, createMessage({ pipeline: "graceful", node: "feed", port: "out" }, { i }));
    const sink = join(dir, "coord/graceful/out.jsonl");
    const info = () => producer.jsm.consumers.info(streamName("graceful"), consumerName(edge.id));
    // Working, with more delivered to it than it runs (100 ms each, one at a time).
    await until("the first worker busy with a queue in hand", async () => (sinkRecords(sink).length >= 3 && (await info()).num_ack_pending > 5 ? true : undefined), 20_000);

    // Within a message's time and the shutdown.
    const exited = await Promise.race([first.kill("SIGTERM"), new Promise((r) => setTimeout(() => r("still running after 5 s"), 5_000))]);
    expect(exited).toBe(0);
    const handedBack = await info();
    // Handed back (nak): the server counts them ack-pending until redelivered; none went elsewhere.
    expect(handedBack.num_ack_pending + handedBack.num_pending).toBeGreaterThan(20);

    // A new worker gets them at once: held messages that were not handed back would wait out the 30 s ackWait.
    const second = worker("second");
    processes.push(second);
    const restarted = Date.now();
    await until("60 messages at the sink", () => (sinkRecords(sink).length >= 60 ? true : undefined), 30_000);
    expect(Date.now() - restarted).toBeLessThan(25_000);
    const records = sinkRecords(sink);
    expect(records.map((r) => r.i).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(new Set(records.map((r) => r.pid))).toEqual(new Set([await first.workerPid(), await second.workerPid()]));
  }, 90_000);
});
