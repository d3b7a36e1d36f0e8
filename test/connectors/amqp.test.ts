/**
 * amqp.consume and amqp.publish against a real rabbitmq-server child (one for the file: it is
 * slow to start): a round trip through an exchange with publisher confirms, manual acks after
 * the hand-off, undecodable messages to the dead letters, SIGKILL of `evoflow run` mid-stream
 * (the unacknowledged messages come again, none lost), reconnects after a broker restart, and
 * configs refused at their JSON path.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type Channel, type ChannelModel } from "amqplib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadNode, type TestNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { startRun } from "../packages/cli";
import { holdPackage, holdPipeline, nodeIn } from "./hold-package";
import { RabbitMQ } from "./rabbitmq";

const consume = builtin("amqp.consume");
const publish = builtin("amqp.publish");
let broker: RabbitMQ;
let conn: ChannelModel;
let ch: Channel;
const nodes: TestNode[] = [];
const load = async (...args: Parameters<typeof loadNode>) => {
  const node = await loadNode(...args);
  nodes.push(node);
  return node;
};

beforeAll(async () => {
  broker = await RabbitMQ.start();
  conn = await connect(broker.url);
  ch = await conn.createChannel();
}, 90_000);
afterAll(async () => {
  await conn?.close();
  await broker?.close();
}, 30_000);
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});

describe("amqp", () => {
  it("round-trips: amqp.publish to an exchange with confirms, amqp.consume from the bound queue, acknowledged after the hand-off", async () => {
    await ch.assertExchange("readings", "topic", { durable: true });
    await ch.assertQueue("scoring", { durable: true });
    await ch.bindQueue("scoring", "readings", "plant.#");
    const sink = await load(publish, { config: { url: broker.url, exchange: "readings", routingKey: "plant.a" }, grants: ["network"] });
    for (const n of [1, 2, 3]) await sink.send("in", { n });
    expect(sink.status()).toMatchObject({ connection: "connected", published: 3 });
    expect((await ch.checkQueue("scoring")).messageCount).toBe(3);

    const source = await load(consume, { config: { url: broker.url, queue: "scoring", output: "message" }, grants: ["network"] });
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await source.next("out")).payload);
    expect(got).toEqual([1, 2, 3].map((n) => ({ exchange: "readings", routingKey: "plant.a", payload: { n } })));
    // A hand-off counts as emitted once the first edge took it; the ack follows it.
    const deadline = Date.now() + 5000;
    while (source.status().emitted !== 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await source.stop();
    // All acknowledged: nothing left in the queue once the consumer is gone.
    expect((await ch.checkQueue("scoring")).messageCount).toBe(0);
  });

  it("sends a message that is not JSON to the dead letters and goes on with the next", async () => {
    await ch.assertQueue("bad", { durable: true });
    ch.sendToQueue("bad", Buffer.from("{nope"));
    ch.sendToQueue("bad", Buffer.from("[1]"));
    const source = await load(consume, { config: { url: broker.url, queue: "bad" }, grants: ["network"] });
    expect((await source.next("out")).payload).toEqual([1]);
    expect(source.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^amqp message from bad is not JSON .*"\{nope"$/) })]);
  });

  it("refuses configs at their JSON path, a URL with credentials, a missing queue or exchange", async () => {
    const grants = ["network" as const];
    await expect(loadNode(consume, { config: { url: "amqp://guest:guest@127.0.0.1:1", queue: "q" }, grants })).rejects.toThrow(/\$\.config\.url: an amqp:\/\/ or amqps:\/\/ URL without credentials/);
    await expect(loadNode(consume, { config: { url: broker.url, queue: "q", prefetch: 0 }, grants })).rejects.toThrow(/\$\.config\.prefetch/);
    await expect(loadNode(consume, { config: { url: broker.url, queue: "no-such-queue" }, grants })).rejects.toThrow(/amqp queue no-such-queue: .*NOT_FOUND/);
    await expect(loadNode(publish, { config: { url: broker.url, exchange: "no-such-exchange" }, grants })).rejects.toThrow(/NOT_FOUND/);
  });

  it("kill -9 of evoflow run mid-stream: the unacknowledged messages come again, the acknowledged do not, none lost", async () => {
    await ch.assertQueue("jobs", { durable: true });
    const root = mkdtempSync(path.join(tmpdir(), "evoflow-amqp-crash-"));
    const pkg = holdPackage(mkdtempSync(path.join(root, "pkg-")));
    const config = { url: broker.url, queue: "jobs", prefetch: 1 };
    const file = holdPipeline(root, "amqp.consume", config);
    ch.sendToQueue("jobs", Buffer.from(JSON.stringify({ n: 1 })));
    ch.sendToQueue("jobs", Buffer.from(JSON.stringify({ n: 2, hold: true })));
    for (let n = 3; n <= 12; n++) ch.sendToQueue("jobs", Buffer.from(JSON.stringify({ n })));
    const run = await startRun([file, "--nodes", pkg], path.join(root, "data"));
    try {
      const deadline = Date.now() + 10_000;
      while ((await nodeIn(run, "crash", "hold")) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await nodeIn(run, "crash", "hold")).toBe(2);
      await new Promise((r) => setTimeout(r, 500));
      // prefetch 1 and a stuck hand-off: the broker sent nothing more.
      expect(await nodeIn(run, "crash", "hold")).toBe(2);
      expect((await ch.checkQueue("jobs")).messageCount).toBe(10);
    } finally {
      run.kill();
    }
    const again = await load(consume, { config, grants: ["network"] });
    const got: number[] = [];
    for (let i = 0; i < 11; i++) got.push(((await again.next("out", { timeout: 10_000 })).payload as { n: number }).n);
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i + 2));
  }, 40_000);

  it("reconnects after the broker restarts: the source consumes again, the sink publishes again", async () => {
    await ch.assertQueue("survivor", { durable: true });
    const source = await load(consume, { config: { url: broker.url, queue: "survivor" }, grants: ["network"] });
    const sink = await load(publish, { config: { url: broker.url, exchange: "", routingKey: "survivor", timeoutMs: 30_000 }, grants: ["network"] });
    await conn.close().catch(() => undefined);
    await broker.stop();
    await broker.restart();
    conn = await connect(broker.url);
    ch = await conn.createChannel();
    await sink.send("in", { after: true }, { timeout: 30_000 });
    expect((await source.next("out", { timeout: 15_000 })).payload).toEqual({ after: true });
    expect(source.status()).toMatchObject({ connection: "connected", reconnects: 1 });
  }, 60_000);
});
