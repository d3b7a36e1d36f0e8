/**
 * A mosquitto restart mid-stream (SIGTERM, started again on the same port and persistence
 * folder), counted: with QoS 1 and persistent sessions, every message the broker accepted reaches
 * mqtt.subscribe, and every message mqtt.publish handled reaches a subscriber, at least once.
 */
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { Mosquitto } from "./mosquitto";
import { COUNT, missing, sendAcrossRestart, until } from "./restart-count";

let broker: Mosquitto;
const clients: MqttClient[] = [];
const load = stoppedAfterEach();
beforeAll(async () => {
  broker = await Mosquitto.start();
});
afterAll(async () => {
  await broker?.close();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
});
/** A test client with its own persistent session, reconnecting quickly. */
const client = async (clientId: string) => {
  const c = await connectAsync(broker.url, { clientId, clean: false, reconnectPeriod: 100 });
  c.on("error", () => {});
  clients.push(c);
  return c;
};

it("mqtt.subscribe: every message published across the restart arrives", async () => {
  const node = await load(builtin("mqtt.subscribe"), { config: { url: broker.url, topics: ["readings/#"], qos: 1, clientId: "evoflow-restart-source" }, grants: ["network"] });
  const producer = await client("restart-producer");
  await sendAcrossRestart(COUNT, (n) => producer.publishAsync(`readings/${n % 7}`, JSON.stringify({ n }), { qos: 1 }).then(() => undefined), broker);
  await until(() => missing(COUNT, node.payloads("out")).length === 0);
  expect(missing(COUNT, node.payloads("out"))).toEqual([]);
  expect(node.deadLetters()).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
}, 90_000);

it("mqtt.publish: every message handled across the restart reaches a subscriber", async () => {
  const consumer = await client("restart-consumer");
  await consumer.subscribeAsync("alerts", { qos: 1 });
  const got: unknown[] = [];
  consumer.on("message", (_topic, body) => got.push(JSON.parse(body.toString())));
  const node = await load(builtin("mqtt.publish"), { config: { url: broker.url, topic: "alerts", qos: 1 }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => node.send("in", { n }, { timeout: 60_000 }), broker);
  expect(node.deadLetters()).toEqual([]);
  await until(() => missing(COUNT, got).length === 0);
  expect(missing(COUNT, got)).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1, published: COUNT });
}, 90_000);
