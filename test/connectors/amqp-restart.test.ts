/**
 * A rabbitmq-server restart mid-stream (SIGTERM, started again with the same node name and
 * database), counted: every persistent message the broker confirmed into a durable queue across
 * it reaches amqp.consume, and every message amqp.publish handled is in the queue.
 */
import { connect, type ChannelModel, type ConfirmChannel } from "amqplib";
import { afterAll, beforeAll, expect, it } from "vitest";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { RabbitMQ } from "./rabbitmq";
import { COUNT, missing, sendAcrossRestart, until } from "./restart-count";

let broker: RabbitMQ;
const load = stoppedAfterEach();
let link: Promise<ConfirmChannel> | undefined;
let model: ChannelModel | undefined;
/** The test's own confirm channel, opened again after the broker went away. */
const channel = () =>
  (link ??= (async () => {
    const c = (model = await connect(broker.url));
    c.on("error", () => {});
    c.on("close", () => (link = undefined));
    return c.createConfirmChannel();
  })().catch((err: Error) => {
    link = undefined;
    throw err;
  }));

beforeAll(async () => {
  broker = await RabbitMQ.start();
  const ch = await channel();
  await ch.assertQueue("readings", { durable: true });
  await ch.assertQueue("alerts", { durable: true });
}, 90_000);
afterAll(async () => {
  await model?.close().catch(() => {});
  await broker?.close();
}, 30_000);

it("amqp.consume: every message confirmed across the restart arrives", async () => {
  const node = await load(builtin("amqp.consume"), { config: { url: broker.url, queue: "readings", prefetch: 16 }, grants: ["network"] });
  const send = async (n: number) => {
    const ch = await channel();
    await new Promise<void>((resolve, reject) => ch.sendToQueue("readings", Buffer.from(JSON.stringify({ n })), { persistent: true }, (err: unknown) => (err ? reject(err) : resolve())));
  };
  await sendAcrossRestart(COUNT, send, broker);
  await until(() => missing(COUNT, node.payloads("out")).length === 0);
  expect(missing(COUNT, node.payloads("out"))).toEqual([]);
  expect(node.deadLetters()).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
}, 120_000);

it("amqp.publish: every message handled across the restart is in the queue", async () => {
  const node = await load(builtin("amqp.publish"), { config: { url: broker.url, exchange: "", routingKey: "alerts" }, grants: ["network"] });
  await sendAcrossRestart(COUNT, (n) => node.send("in", { n }, { timeout: 60_000 }), broker);
  expect(node.deadLetters()).toEqual([]);
  const ch = await channel();
  const stored: unknown[] = [];
  for (let m = await ch.get("alerts", { noAck: true }); m; m = await ch.get("alerts", { noAck: true })) stored.push(JSON.parse(m.content.toString()));
  expect(missing(COUNT, stored)).toEqual([]);
  expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
}, 120_000);
