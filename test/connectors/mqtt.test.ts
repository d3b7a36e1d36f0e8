/**
 * mqtt.subscribe and mqtt.publish against a real mosquitto (Debian's) child process: wildcards
 * and QoS, unreadable messages to the dead letters, a persistent session across a restart of the
 * pipeline, the acknowledgement held until the first edge took the message (a pipeline killed
 * before gets the message again), the sink waiting for the broker's acknowledgement, and the
 * source reconnecting after a broker restart.
 */
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("mqtt.subscribe", () => {
  it("receives JSON from the topics its wildcard filters match, with the topic when asked", async () => {
    const node = await load(subscribe, { config: { url: broker.url, topics: ["plant/+/temp"], qos: 1, output: "message" }, grants: ["network"] });
    await client.publishAsync("plant/a/temp", JSON.stringify({ c: 21.5 }), { qos: 1 });
    await client.publishAsync("plant/a/humidity", JSON.stringify({ rh: 40 }), { qos: 1 });
    await client.publishAsync("plant/b/temp", JSON.stringify({ c: 19 }), { qos: 1 });
    expect((await node.next("out")).payload).toMatchObject({ topic: "plant/a/temp", payload: { c: 21.5 }, qos: 1 });
    expect((await node.next("out")).payload).toMatchObject({ topic: "plant/b/temp", payload: { c: 19 } });
    expect(node.status()).toMatchObject({ connection: "connected", received: 2, emitted: 2 });
  });

  it("sends a message that is not JSON to the dead letters and goes on with the next", async () => {
    const node = await load(subscribe, { config: { url: broker.url, topics: ["bad/#"] }, grants: ["network"] });
    await client.publishAsync("bad/x", "{not json", { qos: 1 });
    await client.publishAsync("bad/y", "[1,2]", { qos: 1 });
    expect((await node.next("out")).payload).toEqual([1, 2]);
    expect(node.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^mqtt message on bad\/x is not JSON .*"\{not json"$/) })]);
  });

  it("refuses filters MQTT does not allow, at their JSON path, and needs the network grant", async () => {
    await expect(loadNode(subscribe, { config: { url: broker.url, topics: ["a/#/b", "ok/+"] }, grants: ["network"] })).rejects.toThrow(/\$\.config\.topics\[0\]: topic filter "a\/#\/b": `#` must be a whole level and the last one/);
    await expect(loadNode(subscribe, { config: { url: broker.url, topics: ["t"] } })).rejects.toThrow(/needs the "network" capability/);
    await expect(loadNode(subscribe, { config: { url: "http://example.com", topics: ["t"] }, grants: ["network"] })).rejects.toThrow(/\$\.config\.url: an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL/);
  });

  it("with a clientId keeps its session: QoS 1 messages sent while the pipeline was down arrive when it is back", async () => {
    const config = { url: broker.url, topics: ["orders/#"], qos: 1 as const, clientId: "evoflow-test-orders" };
    const first = await load(subscribe, { config, grants: ["network"] });
    await client.publishAsync("orders/1", JSON.stringify({ n: 1 }), { qos: 1 });
    expect((await first.next("out")).payload).toEqual({ n: 1 });
    await first.stop();
    for (const n of [2, 3, 4]) await client.publishAsync(`orders/${n}`, JSON.stringify({ n }), { qos: 1 });
    const again = await load(subscribe, { config, grants: ["network"] });
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await again.next("out")).payload);
    expect(got).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
  });

  it("reconnects after the broker restarts and receives what is published then", async () => {
    const node = await load(subscribe, { config: { url: broker.url, topics: ["restart/t"], clientId: "evoflow-test-restart" }, grants: ["network"] });
    await client.endAsync();
    await broker.stop();
    await broker.restart();
    client = await connectAsync(broker.url);
    // The persistent session (saved by mosquitto on its way down) still holds the subscription.
    const deadline = Date.now() + 10_000;
    while (node.status().connection !== "connected" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await client.publishAsync("restart/t", JSON.stringify({ after: true }), { qos: 1 });
    expect((await node.next("out", { timeout: 10_000 })).payload).toEqual({ after: true });
    expect(node.status().reconnects).toBe(1);
  }, 20_000);
});

describe("mqtt.publish", () => {
  it("publishes each message with its QoS and retain flag, handled once the broker acknowledged it", async () => {
    const node = await load(publish, { config: { url: broker.url, topic: "out/alerts", qos: 1, retain: true }, grants: ["network"] });
    await node.send("in", { alert: "hot" });
    expect(node.status()).toMatchObject({ published: 1 });
    // Retained: a subscriber arriving after the publish still gets it.
    const late = await connectAsync(broker.url);
    const got = new Promise<{ topic: string; body: unknown; retain: boolean }>((resolve) => late.on("message", (topic, body, packet) => resolve({ topic, body: JSON.parse(body.toString()), retain: packet.retain })));
    await late.subscribeAsync("out/alerts", { qos: 1 });
    expect(await got).toEqual({ topic: "out/alerts", body: { alert: "hot" }, retain: true });
    await late.endAsync();
  });

  it("refuses a topic with wildcards", async () => {
    await expect(loadNode(publish, { config: { url: broker.url, topic: "out/#" }, grants: ["network"] })).rejects.toThrow(/\$\.config\.topic: a topic to publish to has no wildcards/);
  });
});
