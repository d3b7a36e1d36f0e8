/**
 * Faults on the NATS side: a server restarted mid-stream (file storage), a server of a
 * three-server R3 cluster stopped mid-stream, and bytes on an edge subject that are no
 * message. The pipeline runs in this process on the nats transport; the servers are real.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { encode } from "../../runtime/transport/nats-codec";
import { consumerName, edgeSubject, streamName } from "../../runtime/transport/nats-names";
import { readDeadLetters } from "../../runtime/transport/nats-read";
import { NatsTransport } from "../../runtime/transport/nats";
import { Runtime } from "../../runtime/runtime";
import { createApi } from "../../runtime/api/server";
import { evoflowOnce, until } from "./cli";
import { NatsCluster, NatsServer } from "./server";

function sinkLines(file: string): { id: string; payload: { i: number } }[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** generator → async → set → async → sink, `count` messages at `rate` per second. */
function streamPipeline(name: string, count: number, rate: number) {
  return {
    apiVersion: "evoflow/v1",
    name,
    settings: { delivery: { ackWaitSeconds: 2 } },
    nodes: [
      { id: "gen", type: "io.generator", config: { rate, source: { kind: "synthetic", count, features: 2, seed: 5 } } },
      { id: "tag", type: "transform.set", config: { set: { tagged: true } } },
      { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
    ],
    edges: [
      { from: "gen.out", to: "tag.in", mode: "async" },
      { from: "tag.out", to: "out.in", mode: "async" },
    ],
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Waits until the sink holds `count` messages and both edges' consumers have nothing left. */
async function drained(transport: NatsTransport, name: string, sink: string, count: number): Promise<void> {
  await until(
    `${count} messages at the sink of ${name} and its edges drained`,
    async () => {
      if (sinkLines(sink).length < count) return undefined;
      for (const edge of ["gen_out-tag_in", "tag_out-out_in"]) {
        const ci = await transport.jsm.consumers.info(streamName(name), consumerName(edge)).catch(() => undefined);
        if (!ci || ci.num_pending + ci.num_ack_pending > 0) return undefined;
      }
      return true;
    },
    50_000,
  );
}

function expectEachOnce(sink: string, count: number): void {
  const lines = sinkLines(sink);
  expect(lines).toHaveLength(count);
  expect(new Set(lines.map((l) => l.payload.i)).size).toBe(count);
  expect(new Set(lines.map((l) => l.id)).size).toBe(count);
}

describe("nats-server faults", () => {
  it("loses nothing when the server is stopped and restarted mid-stream (file storage)", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.dispose());
    const dir = mkdtempSync(join(tmpdir(), "evoflow-restart-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = await NatsTransport.connect({ servers: server.url });
    const runtime = new Runtime({ transport, dataDir: dir });
    cleanups.push(() => runtime.close());
    await runtime.deploy(streamPipeline("restart", 4000, 800));
    const sink = join(dir, "restart/out.jsonl");

    await until("the stream to be under way", () => sinkLines(sink).length >= 800 || undefined);
    await server.stop();
    const duringOutage = sinkLines(sink).length;
    expect(duringOutage).toBeLessThan(4000);
    await new Promise((r) => setTimeout(r, 1000)); // the producer keeps emitting into a dead connection
    await server.restart();

    await drained(transport, "restart", sink, 4000);
    expectEachOnce(sink, 4000);
  });

  it("goes on and loses nothing when one server of an R3 cluster stops", async () => {
    const cluster = await NatsCluster.start(3);
    cleanups.push(() => cluster.dispose());
    const dir = mkdtempSync(join(tmpdir(), "evoflow-cluster-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = await NatsTransport.connect({ servers: cluster.urls, replicas: 3 });
    const runtime = new Runtime({ transport, dataDir: dir });
    cleanups.push(() => runtime.close());
    await runtime.deploy(streamPipeline("replicated", 4000, 800));
    const sink = join(dir, "replicated/out.jsonl");
    const info = await transport.jsm.streams.info(streamName("replicated"));
    expect(info.config.num_replicas).toBe(3);

    await until("the stream to be under way", () => sinkLines(sink).length >= 800 || undefined);
    // Stop the server this client talks to: it must fail over, and the stream keeps its quorum.
    const connected = cluster.servers.find((s) => transport.nc.getServer().endsWith(`:${s.port}`)) ?? cluster.servers[0];
    await connected.stop();

    await drained(transport, "replicated", sink, 4000);
    expectEachOnce(sink, 4000);
  });
});

describe("duplicate suppression", () => {
  it("keeps both outputs of a node fed the same message on two edges", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.dispose());
    const dir = mkdtempSync(join(tmpdir(), "evoflow-fanin-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = await NatsTransport.connect({ servers: server.url });
    const runtime = new Runtime({ transport, dataDir: dir });
    cleanups.push(() => runtime.close());
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "twice",
      nodes: [
        { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 50, features: 1 } } },
        { id: "tag", type: "transform.set", config: { set: { tagged: true } } },
        { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
      ],
      edges: [
        { id: "left", from: "gen.out", to: "tag.in", mode: "async" },
        { id: "right", from: "gen.out", to: "tag.in", mode: "async" },
        { id: "tagged", from: "tag.out", to: "out.in", mode: "async" },
      ],
    });
    const sink = join(dir, "twice/out.jsonl");
    await until("both copies at the sink", () => sinkLines(sink).length === 100 || undefined);
    const perIndex = new Map<number, number>();
    for (const l of sinkLines(sink)) perIndex.set(l.payload.i, (perIndex.get(l.payload.i) ?? 0) + 1);
    expect([...perIndex.values()].every((n) => n === 2)).toBe(true);
  });
});

describe("sync edges without an answer", () => {
  it("fail with an error naming the node once the timeout passes, never hang", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.dispose());
    const dir = mkdtempSync(join(tmpdir(), "evoflow-nosync-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = await NatsTransport.connect({ servers: server.url, syncTimeoutMs: 500 });
    const runtime = new Runtime({ transport, dataDir: dir, localNodes: () => new Set(["request"]) });
    cleanups.push(() => runtime.close());
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "lonely",
      nodes: [
        { id: "request", type: "io.http" },
        { id: "double", type: "transform.jsonata", placement: "gpu", config: { expression: "{ 'y': x * 2 }" } },
      ],
      edges: [{ from: "request.out", to: "double.in", mode: "sync" }],
    });
    // No process runs `double`: the caller keeps asking until its timeout, then gets the reason.
    await expect(running.entrypoints.get("lonely")!.invoke({ x: 1 })).rejects.toThrow(/no process serves double \(sync edge request_out-double_in\) after 500 ms/);
  });
});

describe("retention", () => {
  it("sets the pipeline stream's max age and bytes from the JSON, and updates them on redeploy", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.dispose());
    const dir = mkdtempSync(join(tmpdir(), "evoflow-retention-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = await NatsTransport.connect({ servers: server.url });
    const runtime = new Runtime({ transport, dataDir: dir });
    cleanups.push(() => runtime.close());
    const pipeline = (retention: { maxAgeSeconds: number; maxBytes: number }) => ({
      ...streamPipeline("kept", 10, 0),
      settings: { retention },
    });
    await runtime.deploy(pipeline({ maxAgeSeconds: 3600, maxBytes: 50_000_000 }));
    let config = (await transport.jsm.streams.info(streamName("kept"))).config;
    expect(config.max_age).toBe(3600e9);
    expect(config.max_bytes).toBe(50_000_000);
    await runtime.deploy(pipeline({ maxAgeSeconds: 600, maxBytes: 20_000_000 }));
    config = (await transport.jsm.streams.info(streamName("kept"))).config;
    expect(config.max_age).toBe(600e9);
    expect(config.max_bytes).toBe(20_000_000);
  });
});

describe("bytes that are no message", () => {
  it("go to the dead-letter subject with a reason, and the consumer goes on", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.dispose());
    const dir = mkdtempSync(join(tmpdir(), "evoflow-dlq-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const transport = await NatsTransport.connect({ servers: server.url, maxMessageBytes: 4096 });
    const runtime = new Runtime({ transport, dataDir: dir });
    cleanups.push(() => runtime.close());
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "dlq",
      nodes: [
        { id: "tag", type: "transform.set", config: { set: { tagged: true } } },
        { id: "out", type: "io.sink", config: { kind: "jsonl", path: "out.jsonl" } },
      ],
      edges: [{ id: "tagged", from: "tag.out", to: "out.in", mode: "async" }],
    });
    const raw = await connect({ servers: server.url });
    cleanups.push(() => raw.close());
    const envelope = (i: number, payload: unknown) => ({
      id: `m${i}`,
      traceId: "0af7651916cd43dd8448eb211c80319c",
      parents: [],
      ts: Date.now(),
      source: { pipeline: "dlq", node: "tag", port: "out" },
      payload,
    });
    const subject = edgeSubject("dlq", "tagged", "0af7651916cd43dd8448eb211c80319c");
    raw.publish(subject, new TextEncoder().encode("this is not CBOR {"));
    raw.publish(subject, encode({ hello: "a map, not an envelope" }));
    raw.publish(subject, encode(envelope(1, { blob: new Float32Array(2048) }))); // 8 KB of floats > 4096
    raw.publish(subject, encode(envelope(2, { x: new Float32Array([1.5, -2]) })));
    await raw.flush();

    const sink = join(dir, "dlq/out.jsonl");
    await until("the good message at the sink", () => sinkLines(sink).length === 1 || undefined);
    expect(sinkLines(sink)[0]).toMatchObject({ id: "m2", payload: { x: [1.5, -2] } });

    const letters = await until("three dead letters", async () => {
      const { letters: l } = await readDeadLetters(transport.js, "dlq");
      return l.length >= 3 ? l : undefined;
    });
    expect(letters).toHaveLength(3);
    expect(letters.map((l) => l.reason)).toEqual([
      expect.stringMatching(/^not CBOR/),
      expect.stringMatching(/^malformed message: envelope has no id/),
      expect.stringMatching(/^oversized: \d+ bytes is over the 4096-byte limit/),
    ]);
    expect(letters.every((l) => l.edge === "tagged" && l.subject === subject && l.raw instanceof Uint8Array)).toBe(true);
    expect(new TextDecoder().decode(letters[0].raw)).toBe("this is not CBOR {");

    // The same letters through the HTTP API (the last two) and the CLI.
    const app = await createApi({ runtime });
    cleanups.push(() => app.close());
    const res = await app.inject({ method: "GET", url: "/api/pipelines/dlq/dead-letters?limit=2" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { total: number; letters: { reason: string; raw?: string }[] };
    expect(body.total).toBe(3);
    expect(body.letters.map((l) => l.reason)).toEqual(letters.slice(1).map((l) => l.reason));

    const cli = await evoflowOnce(["tap", "dlq", "dlq", "--nats", server.url]);
    expect(cli.stderr).toBe("");
    const printed = cli.stdout.trim().split("\n").map((l) => JSON.parse(l) as { reason: string; raw?: string });
    expect(printed.map((l) => l.reason)).toEqual(letters.map((l) => l.reason));
    expect(printed[0].raw).toBe("this is not CBOR {");
  });

  it("keeps typed arrays binary across the wire", async () => {
    const { decodeMessage } = await import("../../runtime/transport/nats-codec");
    const payload = {
      f32: new Float32Array([0.5, -1.25]),
      f64: new Float64Array([Math.PI]),
      i64: new BigInt64Array([2n ** 40n]),
      u8: new Uint8Array([1, 2, 255]),
      i32: new Int32Array([-7]),
      tensor: { dtype: "float32", shape: [2], data: new Float32Array([3, 4]) },
    };
    const back = decodeMessage(encode({ id: "a", traceId: "t", parents: [], ts: 1, source: { pipeline: "p", node: "n", port: "o" }, payload }))
      .payload as typeof payload;
    expect(back.f32).toBeInstanceOf(Float32Array);
    expect(back.f64).toBeInstanceOf(Float64Array);
    expect(back.i64).toBeInstanceOf(BigInt64Array);
    expect(back.u8).toBeInstanceOf(Uint8Array);
    expect(back.i32).toBeInstanceOf(Int32Array);
    expect(back.tensor.data).toBeInstanceOf(Float32Array);
    expect(back).toEqual(payload);
  });
});
