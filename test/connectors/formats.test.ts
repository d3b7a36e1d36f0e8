/**
 * The message formats every broker connector declares (nodes/connectors/formats.ts), through a
 * real mosquitto: CSV lines and raw little-endian tensors arrive decoded, what does not decode goes
 * to the dead letters with the reason while the source goes on, and the sinks write both back.
 */
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { stoppedAfterEach } from "./loaded-nodes";
import { Mosquitto } from "./mosquitto";

const subscribe = builtin("mqtt.subscribe");
const publish = builtin("mqtt.publish");
let broker: Mosquitto;
let client: MqttClient;
const load = stoppedAfterEach();

beforeAll(async () => {
  broker = await Mosquitto.start();
  client = await connectAsync(broker.url);
});
afterAll(async () => {
  await client?.endAsync();
  await broker?.close();
});

/** The next raw message on `topic`, subscribed before `act` runs. */
async function received(topic: string, act: () => Promise<void>): Promise<Buffer> {
  const reader = await connectAsync(broker.url);
  const got = new Promise<Buffer>((resolve) => reader.on("message", (_t, body) => resolve(body)));
  await reader.subscribeAsync(topic, { qos: 1 });
  await act();
  const body = await got;
  await reader.endAsync();
  return body;
}

describe("CSV lines", () => {
  it("a line becomes a record by the declared columns, numbers cast; a bad line is a dead letter and the next one arrives", async () => {
    const csv = { columns: ["sensor", "ts", "celsius"], delimiter: ";" };
    const node = await load(subscribe, { config: { url: broker.url, topics: ["csv/lines"], format: "csv", csv }, grants: ["network"] });
    await client.publishAsync("csv/lines", "s1;2026-12-07T12:00:00Z;21.5", { qos: 1 });
    await client.publishAsync("csv/lines", "s1;2026-12-07T12:00:01Z", { qos: 1 }); // a field short
    await client.publishAsync("csv/lines", 's2;"unclosed;3', { qos: 1 });
    await client.publishAsync("csv/lines", "s2;2026-12-07T12:00:02Z;-3", { qos: 1 });
    expect((await node.next("out")).payload).toEqual({ sensor: "s1", ts: "2026-12-07T12:00:00Z", celsius: 21.5 });
    expect((await node.next("out")).payload).toEqual({ sensor: "s2", ts: "2026-12-07T12:00:02Z", celsius: -3 });
    const reasons = node.deadLetters().map((d) => d.reason);
    expect(reasons).toEqual([
      expect.stringMatching(/^mqtt message on csv\/lines is not CSV \(Invalid Record Length: columns length is 3, got 2 on line 1\): "s1;2026-12-07T12:00:01Z"$/),
      expect.stringMatching(/^mqtt message on csv\/lines is not CSV \(Quote Not Closed/),
    ]);
    expect(node.status()).toMatchObject({ received: 4, emitted: 2, deadLetters: 2 });
  });

  it("with a header and batch, a message of several lines becomes an array of records (the header skipped when columns are given); one line is the default and several are refused", async () => {
    const batched = await load(subscribe, { config: { url: broker.url, topics: ["csv/batch"], format: "csv", csv: { header: true, batch: true } }, grants: ["network"] });
    await client.publishAsync("csv/batch", "sensor,celsius\ns1,20\ns2,not-a-number\n", { qos: 1 });
    expect((await batched.next("out")).payload).toEqual([
      { sensor: "s1", celsius: 20 },
      { sensor: "s2", celsius: "not-a-number" },
    ]);
    const renamed = await load(subscribe, { config: { url: broker.url, topics: ["csv/renamed"], format: "csv", csv: { header: true, columns: ["sensor", "c"], batch: true } }, grants: ["network"] });
    await client.publishAsync("csv/renamed", "Sensor Name,Temperature (C)\ns1,20", { qos: 1 });
    expect((await renamed.next("out")).payload).toEqual([{ sensor: "s1", c: 20 }]);
    const single = await load(subscribe, { config: { url: broker.url, topics: ["csv/single"], format: "csv", csv: { numbers: false } }, grants: ["network"] });
    await client.publishAsync("csv/single", "a,1\nb,2", { qos: 1 });
    await client.publishAsync("csv/single", "a,1", { qos: 1 });
    expect((await single.next("out")).payload).toEqual(["a", "1"]);
    expect(single.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/holds 2 CSV lines where one was expected \(csv\.batch takes several\)/) })]);
  });

  it("mqtt.publish writes a record as one CSV line in the columns' order, and dead-letters a payload that is no record", async () => {
    const node = await load(publish, { config: { url: broker.url, topic: "csv/out", format: "csv", csv: { columns: ["sensor", "celsius"] } }, grants: ["network"] });
    const body = await received("csv/out", () => node.send("in", { celsius: 21.5, sensor: "s,1", extra: true }));
    expect(body.toString()).toBe('"s,1",21.5');
    await node.send("in", 42);
    expect(node.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/a CSV line is written from a record or an array; the payload is number/) })]);
  });
});

describe("binary tensors", () => {
  it("raw little-endian bytes become a tensor of the declared dtype, -1 taken from their length; bytes that do not fit are dead letters", async () => {
    const node = await load(subscribe, { config: { url: broker.url, topics: ["tensor/in"], format: "tensor", tensor: { dtype: "float32", shape: [-1, 3] } }, grants: ["network"] });
    await client.publishAsync("tensor/in", Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6.5]).buffer), { qos: 1 });
    await client.publishAsync("tensor/in", Buffer.alloc(5), { qos: 1 });
    await client.publishAsync("tensor/in", Buffer.from(new Float32Array([1, 2, 3, 4]).buffer), { qos: 1 });
    await client.publishAsync("tensor/in", Buffer.from(new Float32Array([7, 8, 9]).buffer), { qos: 1 });
    const first = (await node.next("out")).payload;
    expect(first).toEqual({ dtype: "float32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) });
    expect((await node.next("out")).payload).toEqual({ dtype: "float32", shape: [1, 3], data: new Float32Array([7, 8, 9]) });
    expect(node.deadLetters().map((d) => d.reason)).toEqual([
      "mqtt message on tensor/in is not a float32 tensor of shape [-1,3]: 5 bytes are not a whole number of float32 elements (4 bytes each)",
      "mqtt message on tensor/in is not a float32 tensor of shape [-1,3]: 4 float32 elements do not fill shape [-1,3]",
    ]);
  });

  it("mqtt.publish writes a tensor's raw bytes, and dead-letters one of another dtype", async () => {
    const node = await load(publish, { config: { url: broker.url, topic: "tensor/out", format: "tensor", tensor: { dtype: "int64", shape: [2] } }, grants: ["network"] });
    const body = await received("tensor/out", () => node.send("in", { dtype: "int64", shape: [2], data: new BigInt64Array([1n, -2n]) }));
    expect(body.equals(Buffer.from(new BigInt64Array([1n, -2n]).buffer))).toBe(true);
    await node.send("in", { dtype: "float32", shape: [2], data: new Float32Array(2) });
    expect(node.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/format tensor is declared int64, the payload is float32/) })]);
  });

  it("refuses options that cannot be, at their JSON path", async () => {
    await expect(loadNode(subscribe, { config: { url: broker.url, topics: ["t"], format: "tensor", tensor: { shape: [-1, -1] } }, grants: ["network"] })).rejects.toThrow(/\$\.config\.tensor\.shape: at most one dimension may be -1/);
    await expect(loadNode(subscribe, { config: { url: broker.url, topics: ["t"], format: "csv", csv: { column: ["a"] } }, grants: ["network"] })).rejects.toThrow(/\$\.config\.csv.*column/);
  });
});

it("every broker source and sink declares the same formats and their options", () => {
  for (const type of ["mqtt.subscribe", "mqtt.publish", "redis.read", "redis.add", "nats.subscribe", "nats.publish", "amqp.consume", "amqp.publish"]) {
    const schema = z.toJSONSchema(builtin(type).config, { io: "input", unrepresentable: "any" }) as { properties: Record<string, { enum?: string[] }> };
    expect(schema.properties.format.enum, type).toEqual(["json", "text", "bytes", "csv", "tensor"]);
    expect(Object.keys(schema.properties), type).toEqual(expect.arrayContaining(["csv", "tensor"]));
  }
});
