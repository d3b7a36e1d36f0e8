/**
 * A nats-server restart mid-stream (SIGTERM, started again on the same port and JetStream
 * storage), counted: every message the stream stored across it reaches nats.subscribe through the
 * durable consumer, and every message nats.publish (jetstream) handled is in the stream. Core
 * subjects are at most once, as NATS itself, so they are not counted here.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { builtin } from "../nodes/builtin";
import { NatsServer } from "../nats/server";
import { stoppedAfterEach } from "./loaded-nodes";
import { COUNT, missing, sendAcrossRestart, until } from "./restart-count";

let server: NatsServer;
let nc: NatsConnection;
const load = stoppedAfterEach();
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "READINGS", subjects: ["readings.>"] });
  await jsm.consumers.add("READINGS", { durable_name: "scoring", ack_policy: AckPolicy.Explicit });
  await jsm.streams.add({ name: "ALERTS", subjects: ["alerts.>"], duplicate_window: 60e9 });
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

it("nats.subscribe (JetStream): every message stored across the restart arrives, and all are acknowledged", async () => {
  const node = await load(builtin("nats.subscribe"), { config: { servers: [server.url], stream: "READINGS", consumer: "scoring", batch: 16 }, grants: ["network"] });
  const js = jetstream(nc);
  await sendAcrossRestart(COUNT, (n) => js.publish(`readings.s${n % 7}`, json({ n }), { timeout: 1000 }).then(() => undefined), server);
  await until(() => missing(COUNT, node.payloads("out")).length === 0);
  expect(missing(COUNT, node.payloads("out"))).toEqual([]);
  expect(node.deadLetters()).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
  const jsm = await jetstreamManager(nc);
  await until(async () => (await jsm.consumers.info("READINGS", "scoring")).num_ack_pending === 0, 10_000);
  expect((await jsm.consumers.info("READINGS", "scoring")).num_ack_pending).toBe(0);
}, 90_000);

it("nats.publish (JetStream, idempotency key): every message handled across the restart is in the stream, once", async () => {
  const node = await load(builtin("nats.publish"), { config: { servers: [server.url], subject: "alerts.drift", jetstream: true, idempotencyKey: "n" }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => node.send("in", { n }, { timeout: 60_000 }), server);
  expect(node.deadLetters()).toEqual([]);
  const stored: unknown[] = [];
  const reader = await jetstream(nc).consumers.get("ALERTS", { deliver_policy: DeliverPolicy.All });
  for await (const m of await reader.fetch({ max_messages: COUNT + 10, expires: 2000 })) stored.push(m.json());
  expect(missing(COUNT, stored)).toEqual([]);
  expect(stored).toHaveLength(COUNT);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
}, 90_000);
