/**
 * nats.subscribe and nats.publish against a real nats-server child: core subjects with a queue
 * group, an outside JetStream stream read through the user's durable consumer (acknowledged after
 * the hand-off, undecodable messages to the dead letters), the sink's JetStream acknowledgement
 * and Nats-Msg-Id dedupe, reconnects after a server restart, and configs refused at their JSON path.
 */
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadNode, type TestNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { NatsServer } from "../nats/server";

const subscribe = builtin("nats.subscribe");
const publish = builtin("nats.publish");
let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const nodes: TestNode[] = [];
const load = async (...args: Parameters<typeof loadNode>) => {
  const node = await loadNode(...args);
  nodes.push(node);
  return node;
};
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});

describe("nats.subscribe", () => {
  it("shares a core subject between the members of a queue group", async () => {
    const config = { servers: [server.url], subject: "sensors.*", queue: "scorers" };
    const a = await load(subscribe, { config, grants: ["network"] });
    const b = await load(subscribe, { config, grants: ["network"] });
    for (let i = 0; i < 20; i++) nc.publish(`sensors.s${i % 3}`, json({ i }));
    await nc.flush();
    const deadline = Date.now() + 5000;
    const total = () => (a.status().emitted as number) + (b.status().emitted as number);
    while (total() < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(total()).toBe(20);
    expect(a.status().emitted).toBeLessThan(20); // shared, not each given everything
    expect((await a.next("out")).payload).toMatchObject({ i: expect.any(Number) });
  });

  it("reads an outside stream through its durable consumer, acknowledging each message and dead-lettering what is not JSON", async () => {
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await jsm.consumers.add("ORDERS", { durable_name: "scoring", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    await js.publish("orders.new", json({ n: 1 }));
    await js.publish("orders.new", new TextEncoder().encode("{oops"));
    await js.publish("orders.paid", json({ n: 2 }));
    const node = await load(subscribe, { config: { servers: [server.url], stream: "ORDERS", consumer: "scoring", output: "message" }, grants: ["network"] });
    expect((await node.next("out")).payload).toEqual({ subject: "orders.new", payload: { n: 1 } });
    expect((await node.next("out")).payload).toEqual({ subject: "orders.paid", payload: { n: 2 } });
    expect(node.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^nats message on orders\.new is not JSON .*"\{oops"$/) })]);
    const deadline = Date.now() + 5000;
    let info = await jsm.consumers.info("ORDERS", "scoring");
    while (info.num_ack_pending > 0 && Date.now() < deadline) info = await jsm.consumers.info("ORDERS", "scoring");
    expect({ pending: info.num_pending, ackPending: info.num_ack_pending, acked: info.ack_floor.stream_seq }).toEqual({ pending: 0, ackPending: 0, acked: 3 });
  });

  it("reconnects after the server restarts and receives what is published then", async () => {
    const node = await load(subscribe, { config: { servers: [server.url], subject: "restart.t" }, grants: ["network"] });
    await server.stop();
    await server.restart();
    const deadline = Date.now() + 10_000;
    while ((node.status().reconnects as number) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(node.status()).toMatchObject({ connection: "connected", reconnects: 1 });
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      try {
        nc.publish("restart.t", json({ after: true }));
        await nc.flush();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect((await node.next("out", { timeout: 10_000 })).payload).toEqual({ after: true });
  }, 30_000);

  it("refuses configs at their JSON path: both sources, Evoflow's own streams, a missing consumer", async () => {
    const grants = ["network" as const];
    await expect(loadNode(subscribe, { config: { servers: [server.url], subject: "a", stream: "S", consumer: "c" }, grants })).rejects.toThrow(/\$\.config\.stream: a `subject` or a `stream`, not both/);
    await expect(loadNode(subscribe, { config: { servers: [server.url], stream: "EVOFLOW_demo", consumer: "c" }, grants })).rejects.toThrow(/\$\.config\.stream: `EVOFLOW_\*` streams are Evoflow's own edges/);
    await expect(loadNode(subscribe, { config: { servers: [server.url], subject: "evoflow.demo.edge.x.>" }, grants })).rejects.toThrow(/\$\.config\.subject: `evoflow\.\*` subjects are Evoflow's own edges/);
    await expect(loadNode(subscribe, { config: { servers: ["nats://u:p@127.0.0.1:1"], subject: "a" }, grants })).rejects.toThrow(/\$\.config\.servers\[0\]: a nats:\/\/, tls:\/\/, ws:\/\/ or wss:\/\/ URL without credentials/);
    await expect(loadNode(subscribe, { config: { servers: [server.url], stream: "ORDERS", consumer: "nobody" }, grants })).rejects.toThrow(/nats consumer nobody on stream ORDERS: consumer not found/);
  });
});

describe("nats.publish", () => {
  it("publishes to a core subject", async () => {
    const sub = nc.subscribe("out.core", { max: 1 });
    const node = await load(publish, { config: { servers: [server.url], subject: "out.core" }, grants: ["network"] });
    await node.send("in", { hello: 1 });
    for await (const m of sub) expect(m.json()).toEqual({ hello: 1 });
  });

  it("with jetstream waits for the stream's acknowledgement, and stores a message sent again with the same idempotency key once", async () => {
    await jsm.streams.add({ name: "ALERTS", subjects: ["alerts.>"], duplicate_window: 60e9 });
    const node = await load(publish, { config: { servers: [server.url], subject: "alerts.drift", jetstream: true, idempotencyKey: "id" }, grants: ["network"] });
    await node.send("in", { id: "a", drift: 0.4 });
    await node.send("in", { id: "a", drift: 0.4 });
    await node.send("in", { id: 7, drift: 0.9 });
    expect(node.status()).toMatchObject({ published: 2, duplicates: 1 });
    expect((await jsm.streams.info("ALERTS")).state.messages).toBe(2);
    const stored = await jsm.streams.getMessage("ALERTS", { seq: 2 });
    expect({ id: stored?.header.get("Nats-Msg-Id"), body: stored?.json() }).toEqual({ id: "7", body: { id: 7, drift: 0.9 } });
    // No key in the payload: that message goes to the dead letters with the reason.
    await node.send("in", { drift: 1 });
    expect(node.deadLetters()).toEqual([expect.objectContaining({ reason: expect.stringContaining('the payload has no string or number field "id" for Nats-Msg-Id') })]);
  });

  it("refuses an idempotency key without jetstream and a wildcard subject", async () => {
    const grants = ["network" as const];
    await expect(loadNode(publish, { config: { servers: [server.url], subject: "a", idempotencyKey: "id" }, grants })).rejects.toThrow(/\$\.config\.idempotencyKey: an idempotency key needs `jetstream: true`/);
    await expect(loadNode(publish, { config: { servers: [server.url], subject: "a.>" }, grants })).rejects.toThrow(/\$\.config\.subject: a subject to publish to has no wildcards/);
  });
});
