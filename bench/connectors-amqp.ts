/**
 * AMQP 0-9-1 (RabbitMQ) through Evoflow against the raw client, in one run: N messages on a queue,
 * each consumed with a manual acknowledgement, its JSON decoded and encoded, and published to
 * another queue on a confirm channel; acknowledged once the broker confirmed it.
 *   (a) raw amqplib: consume (prefetch 100) → publish with a confirm callback → ack
 *   (b) Evoflow: amqp.consume (prefetch 100) → sync edge → amqp.publish, on the embedded runtime
 * Each side in a child process of its own (bench/connector-rounds.ts), rounds taking turns. Timed
 * in the parent by a consumer of the output queue, first message to last, so starting a process
 * and deploying do not count. Target (issue 22): b/a ≥ 0.8.
 *
 *   node --import tsx bench/connectors-amqp.ts [--messages 20000] [--rounds 3]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "amqplib";
import { RabbitMQ } from "../test/connectors/rabbitmq";
import { arg, Arrivals, reportSide, sideArgs, stopped, timedSide, writeReport, type Side, type SideRun } from "./connector-rounds";

const PREFETCH = 100;

async function side(which: Side, url: string, inQueue: string, outQueue: string): Promise<never> {
  let cpu: NodeJS.CpuUsage;
  if (which === "raw") {
    const connection = await connect(url);
    const consumer = await connection.createChannel();
    const publisher = await connection.createConfirmChannel();
    await consumer.prefetch(PREFETCH);
    cpu = process.cpuUsage();
    await consumer.consume(inQueue, (m) => {
      if (!m) return;
      const body = Buffer.from(JSON.stringify(JSON.parse(m.content.toString("utf8"))));
      publisher.publish("", outQueue, body, { persistent: false }, (err: unknown) => (err ? consumer.nack(m) : consumer.ack(m)));
    });
    await stopped();
    await connection.close();
  } else {
    const { Runtime } = await import("../runtime/runtime");
    const runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-bench-amqp-")), grants: ["network"] });
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "amqp-identity",
      nodes: [
        { id: "in", type: "amqp.consume", config: { url, queue: inQueue, prefetch: PREFETCH } },
        { id: "out", type: "amqp.publish", config: { url, exchange: "", routingKey: outQueue, persistent: false } },
      ],
      edges: [{ from: "in.out", to: "out.in", mode: "sync" }],
    } as never);
    cpu = process.cpuUsage();
    await stopped();
    await runtime.close();
  }
  return reportSide(cpu);
}

async function main(): Promise<void> {
  const n = arg("messages", 20_000);
  const rounds = arg("rounds", 3);
  const broker = await RabbitMQ.start();
  const load = loadavg();
  const connection = await connect(broker.url);
  const channel = await connection.createConfirmChannel();
  const payload = Buffer.from(JSON.stringify({ sensor: "s1", x: Array.from({ length: 16 }, (_, i) => i / 16) }));
  const runs: SideRun[] = [];
  try {
    for (let round = 0; round < rounds; round++)
      for (const which of ["raw", "evoflow"] as const) {
        const [inQueue, outQueue] = [`in-${which}-${round}`, `out-${which}-${round}`];
        await channel.assertQueue(inQueue, { durable: false });
        await channel.assertQueue(outQueue, { durable: false });
        for (let i = 0; i < n; i += 1000) {
          for (let j = i; j < Math.min(n, i + 1000); j++) channel.sendToQueue(inQueue, payload, { persistent: false });
          await channel.waitForConfirms();
        }
        const arrivals = new Arrivals(n);
        const counter = await channel.consume(outQueue, () => arrivals.count(), { noAck: true });
        runs.push(await timedSide(import.meta.filename, which, [broker.url, inQueue, outQueue], arrivals, `${which} round ${round}`));
        await channel.cancel(counter.consumerTag);
        await channel.deleteQueue(inQueue);
        await channel.deleteQueue(outQueue);
      }
  } finally {
    await connection.close();
    await broker.close();
  }
  const version = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "rabbitmq-server"]).toString().trim();
  writeReport({
    name: "connectors-amqp",
    title: "AMQP connector: identity pipeline vs the raw client",
    command: `node --import tsx bench/connectors-amqp.ts --messages ${n} --rounds ${rounds}`,
    server: `rabbitmq-server ${version} (non-durable queues, transient messages)`,
    workload: `Messages: ${n} of ${payload.length} bytes of JSON on a queue, consumed with manual acknowledgements (prefetch ${PREFETCH}), decoded and encoded, published to another queue on a confirm channel and acknowledged once confirmed; ${rounds} rounds, raw and Evoflow taking turns, each side in a fresh child process. Timed by a consumer of the output queue in the parent, first message to last; msgs/s = (messages − 1) / that time.`,
    labels: { raw: "(a) raw amqplib consume → confirmed publish → ack", evoflow: "(b) Evoflow amqp.consume → sync edge → amqp.publish" },
    load,
    runs,
  });
}

const child = sideArgs();
if (child) {
  const [which, url, inQueue, outQueue] = child;
  await side(which, url, inQueue, outQueue);
} else await main();
