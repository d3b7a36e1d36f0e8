/**
 * MQTT (mosquitto) through Evoflow against the raw client, in one run: N messages (QoS 1) queued
 * for a persistent session, each received, its JSON decoded and encoded, and published (QoS 1) to
 * another topic; the received message is acknowledged once the broker acknowledged the publish.
 *   (a) raw mqtt.js: handleMessage → publish QoS 1 → its PUBACK → the message's PUBACK
 *   (b) Evoflow: mqtt.subscribe (QoS 1, persistent session) → sync edge → mqtt.publish (QoS 1)
 * (mqtt.js hands over one message at a time and reads on when it is acknowledged: both sides
 * work that way.) Each side in a child process of its own (bench/connector-rounds.ts), rounds
 * taking turns. Timed in the parent by a subscriber of the output topic, first message to last,
 * so starting a process and deploying do not count. Target (issue 22): b/a ≥ 0.8.
 *
 *   node --import tsx bench/connectors-mqtt.ts [--messages 20000] [--rounds 3]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { connect, connectAsync } from "mqtt";
import { Mosquitto } from "../test/connectors/mosquitto";
import { arg, Arrivals, reportSide, sideArgs, stopped, timedSide, writeReport, type Side, type SideRun } from "./connector-rounds";

async function side(which: Side, url: string, clientId: string, inTopic: string, outTopic: string): Promise<never> {
  let cpu: NodeJS.CpuUsage;
  if (which === "raw") {
    // Two connections, as Evoflow's two nodes have: a subscriber waiting in handleMessage reads no
    // packet, so the publish's acknowledgement must come on another.
    const publisher = await connectAsync(url, { clientId: `${clientId}-out` });
    const client = connect(url, { clientId, clean: false, manualConnect: true });
    client.handleMessage = (packet, done) => {
      const body = Buffer.from(JSON.stringify(JSON.parse((packet.payload as Buffer).toString("utf8"))));
      publisher.publishAsync(outTopic, body, { qos: 1 }).then(() => done(), (err: Error) => done(err));
    };
    cpu = process.cpuUsage();
    client.connect();
    await stopped();
    await client.endAsync();
    await publisher.endAsync();
  } else {
    const { Runtime } = await import("../runtime/runtime");
    const runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-bench-mqtt-")), grants: ["network"] });
    cpu = process.cpuUsage();
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "mqtt-identity",
      nodes: [
        { id: "in", type: "mqtt.subscribe", config: { url, topics: [inTopic], qos: 1, clientId } },
        { id: "out", type: "mqtt.publish", config: { url, topic: outTopic, qos: 1 } },
      ],
      edges: [{ from: "in.out", to: "out.in", mode: "sync" }],
    } as never);
    await stopped();
    await runtime.close();
  }
  return reportSide(cpu);
}

async function main(): Promise<void> {
  const n = arg("messages", 20_000);
  const rounds = arg("rounds", 3);
  // The messages wait in each side's session before it starts: no per-session limit.
  const broker = await Mosquitto.start({ maxQueuedMessages: 0 });
  const load = loadavg();
  const payload = Buffer.from(JSON.stringify({ sensor: "s1", x: Array.from({ length: 16 }, (_, i) => i / 16) }));
  const publisher = await connectAsync(broker.url, { clientId: "bench-publisher" });
  const runs: SideRun[] = [];
  try {
    for (let round = 0; round < rounds; round++)
      for (const which of ["raw", "evoflow"] as const) {
        const [clientId, inTopic, outTopic] = [`side-${which}-${round}`, `in/${which}/${round}`, `out/${which}/${round}`];
        // The side's persistent session, made before it starts, so the broker queues the messages for it.
        const session = await connectAsync(broker.url, { clientId, clean: false });
        await session.subscribeAsync(inTopic, { qos: 1 });
        await session.endAsync();
        for (let i = 0; i < n; i += 500) await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => publisher.publishAsync(inTopic, payload, { qos: 1 })));
        const arrivals = new Arrivals(n);
        const counter = await connectAsync(broker.url, { clientId: `counter-${which}-${round}` });
        counter.on("message", () => arrivals.count());
        await counter.subscribeAsync(outTopic, { qos: 1 });
        runs.push(await timedSide(import.meta.filename, which, [broker.url, clientId, inTopic, outTopic], arrivals, `${which} round ${round}`));
        await counter.endAsync();
      }
  } finally {
    await publisher.endAsync();
    await broker.close();
  }
  const version = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "mosquitto"]).toString().trim();
  writeReport({
    name: "connectors-mqtt",
    title: "MQTT connector: identity pipeline vs the raw client",
    command: `node --import tsx bench/connectors-mqtt.ts --messages ${n} --rounds ${rounds}`,
    server: `mosquitto ${version} (persistence on, max_queued_messages 0)`,
    workload: `Messages: ${n} of ${payload.length} bytes of JSON published with QoS 1 and queued for the side's persistent session, each received, decoded and encoded, published with QoS 1 to another topic, and acknowledged once that publish was; ${rounds} rounds, raw and Evoflow taking turns, each side in a fresh child process. Timed by a subscriber of the output topic in the parent, first message to last; msgs/s = (messages − 1) / that time.`,
    labels: { raw: "(a) raw mqtt.js: receive → publish QoS 1 → acknowledge", evoflow: "(b) Evoflow mqtt.subscribe → sync edge → mqtt.publish" },
    load,
    runs,
  });
}

const child = sideArgs();
if (child) {
  const [which, url, clientId, inTopic, outTopic] = child;
  await side(which, url, clientId, inTopic, outTopic);
} else await main();
