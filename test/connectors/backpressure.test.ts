/**
 * A full downstream queue pauses the source, on real servers: source → async edge (capacity 16,
 * block) → a gate that holds every message until released. Many times the capacity is sent; while
 * the gate is shut the source has taken no more than the edge holds plus what one read brings
 * (the in-memory count stays bounded), the server still holds the rest (its stored count, the
 * group's lag, the consumer's pending count, the queue's ready messages), and nothing is dropped; once released, every message arrives, once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as connectAmqp } from "amqplib";
import { connect } from "@nats-io/transport-node";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NodeTypes } from "../../runtime/node-types";
import { Runtime } from "../../runtime/runtime";
import { defineNode, port, z } from "../../sdk";
import { builtin } from "../nodes/builtin";
import { NatsServer } from "../nats/server";
import { Mosquitto } from "./mosquitto";
import { RabbitMQ } from "./rabbitmq";
import { RedisServer } from "./redis-server";
import { missing, until } from "./restart-count";

const CAPACITY = 16;
/** Mosquitto queues at most 1000 messages per session (max_queued_messages) and drops beyond: stay under it. */
const SENT = 600;

/** The gate of the pipeline running now: what it let through, and the releases it waits for. */
let gate = { open: false, waiting: [] as (() => void)[], passed: [] as unknown[] };
const gateNode = defineNode({
  type: "test.gate",
  category: "transform",
  title: "Gate",
  description: "Holds each message until the test opens the gate.",
  inputs: { in: port.any() },
  outputs: {},
  config: z.object({}),
  create: () => ({
    async onMessage(_port, message) {
      if (!gate.open) await new Promise<void>((r) => gate.waiting.push(r));
      gate.passed.push(message.payload);
    },
  }),
});

let mosquitto: Mosquitto;
let redisServer: RedisServer;
let natsServer: NatsServer;
let rabbit: RabbitMQ;
let root: string;
let runtime: Runtime;
beforeAll(async () => {
  [mosquitto, redisServer, natsServer, rabbit] = await Promise.all([Mosquitto.start({ sysInterval: 1 }), RedisServer.start(), NatsServer.start(), RabbitMQ.start()]);
  root = mkdtempSync(path.join(tmpdir(), "evoflow-backpressure-"));
  const types = new NodeTypes([builtin("mqtt.subscribe"), builtin("redis.read"), builtin("nats.subscribe"), builtin("amqp.consume"), gateNode]);
  runtime = new Runtime({ nodeTypes: types, dataDir: root, grants: ["network"] });
}, 90_000);
afterAll(async () => {
  await runtime?.close();
  await Promise.all([mosquitto?.close(), redisServer?.close(), natsServer?.dispose(), rabbit?.close()]);
  rmSync(root, { recursive: true, force: true });
});

/**
 * Deploys `type` → gate, sends SENT numbered messages with `send` (each accepted by the server),
 * checks the pause while the gate is shut — at most `bound` messages taken by the source, and
 * `held()` (what the server still keeps for it) at least the rest — then opens the gate.
 */
async function pausedThenReleased(type: string, config: unknown, send: (n: number) => Promise<void>, bound: number, held: () => Promise<number>): Promise<void> {
  gate = { open: false, waiting: [], passed: [] };
  const pipeline = await runtime.deploy({
    apiVersion: "evoflow/v1",
    name: `full-${type.replace(".", "-")}`,
    nodes: [
      { id: "in", type, config },
      { id: "gate", type: "test.gate" },
    ],
    edges: [{ from: "in.out", to: "gate.in", mode: "async", queue: { capacity: CAPACITY, overflow: "block" } }],
  });
  try {
    for (let n = 0; n < SENT; n++) await send(n);
    const received = () => pipeline.status().nodes.in.received as number;
    await until(() => received() >= CAPACITY + 1, 10_000);
    await new Promise((r) => setTimeout(r, 1000)); // time to take more, were it not paused
    const [edge] = Object.values(pipeline.status().edges);
    expect(edge).toMatchObject({ depth: CAPACITY, dropped: 0 });
    expect(received()).toBeGreaterThanOrEqual(CAPACITY + 1);
    expect(received()).toBeLessThanOrEqual(bound);
    expect(await held()).toBeGreaterThanOrEqual(SENT - bound);

    gate.open = true;
    for (const release of gate.waiting.splice(0)) release();
    await until(() => gate.passed.length >= SENT, 30_000);
    expect(missing(SENT, gate.passed)).toEqual([]);
    expect(gate.passed).toHaveLength(SENT);
    expect(Object.values(pipeline.status().edges)[0]).toMatchObject({ dropped: 0 });
  } finally {
    await runtime.undeploy(pipeline.name);
  }
}

it("mqtt.subscribe (QoS 1): the unacknowledged message holds the stream, the broker keeps the rest", async () => {
  const producer = await connectAsync(mosquitto.url);
  // The broker's own count of the messages it stores (queued for the paused session), in its $SYS tree.
  const watcher = await connectAsync(mosquitto.url);
  let stored = 0;
  watcher.on("message", (topic, body) => topic === "$SYS/broker/store/messages/count" && (stored = Number(body.toString())));
  await watcher.subscribeAsync("$SYS/broker/store/messages/count");
  try {
    await pausedThenReleased(
      "mqtt.subscribe",
      { url: mosquitto.url, topics: ["readings/#"], qos: 1, clientId: "evoflow-backpressure" },
      (n) => producer.publishAsync(`readings/${n % 5}`, JSON.stringify({ n }), { qos: 1 }).then(() => undefined),
      // the edge's, the gate's one, the one waiting for room
      CAPACITY + 2,
      async () => {
        await new Promise((r) => setTimeout(r, 1500)); // the next $SYS update
        return stored;
      },
    );
  } finally {
    await Promise.all([producer.endAsync(), watcher.endAsync()]);
  }
}, 60_000);

it("redis.read: a read waiting for room stops XREADGROUP, the stream keeps the rest unread by the group", async () => {
  const redis = redisServer.client();
  const count = 8;
  try {
    await pausedThenReleased(
      "redis.read",
      { url: redisServer.url, stream: "readings", group: "scoring", count },
      (n) => redis.xadd("readings", "*", "data", JSON.stringify({ n })).then(() => undefined),
      // the edge's, the gate's one, and the rest of the read that brought the one waiting for room
      CAPACITY + 1 + count,
      async () => {
        const [group] = (await redis.xinfo("GROUPS", "readings")) as unknown[][];
        return Number(group[group.indexOf("lag") + 1]);
      },
    );
  } finally {
    redis.disconnect();
  }
}, 60_000);

it("nats.subscribe (JetStream): a batch waiting for room fetches no more, the consumer keeps the rest pending", async () => {
  const nc = await connect({ servers: natsServer.url });
  const batch = 8;
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "READINGS", subjects: ["readings.>"] });
    await jsm.consumers.add("READINGS", { durable_name: "scoring", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    await pausedThenReleased(
      "nats.subscribe",
      { servers: [natsServer.url], stream: "READINGS", consumer: "scoring", batch },
      (n) => js.publish(`readings.s${n % 5}`, new TextEncoder().encode(JSON.stringify({ n }))).then(() => undefined),
      CAPACITY + 1 + batch,
      async () => (await jsm.consumers.info("READINGS", "scoring")).num_pending,
    );
  } finally {
    await nc.close();
  }
}, 60_000);

it("amqp.consume: unacknowledged messages up to the prefetch wait for room, the queue keeps the rest ready", async () => {
  const connection = await connectAmqp(rabbit.url);
  const prefetch = 8;
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue("readings", { durable: true });
    await pausedThenReleased(
      "amqp.consume",
      { url: rabbit.url, queue: "readings", prefetch },
      (n) => new Promise<void>((resolve, reject) => channel.sendToQueue("readings", Buffer.from(JSON.stringify({ n })), {}, (err: unknown) => (err ? reject(err) : resolve()))),
      // the edge's, the gate's one, and the prefetched ones waiting for room
      CAPACITY + 1 + prefetch,
      async () => (await channel.checkQueue("readings")).messageCount,
    );
  } finally {
    await connection.close();
  }
}, 60_000);
