import type { ChannelModel, ConfirmChannel } from "amqplib";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { encode, encodeFields } from "../connectors/formats";
import { ConnectionState } from "../connectors/shared";
import { brokerFields, connectAmqp } from "./connection";

const config = z.object({
  ...brokerFields,
  exchange: z.string().max(255).describe("The exchange to publish to (\"\" is the default exchange, which routes by queue name)"),
  routingKey: z.string().max(255).default("").describe("The routing key of every message"),
  persistent: z.boolean().default(true).describe("Ask the broker to write the message to disk (on a durable queue it survives a broker restart)"),
  ...encodeFields,
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(30_000)
    .describe("How long a message may be retried (while the broker is away) before it goes to the dead letters; the default rides out a RabbitMQ restart, which takes 5–15 s"),
});

export default defineNode({
  type: "amqp.publish",
  category: "connectors",
  title: "AMQP publish",
  description:
    "Publishes each message to an AMQP 0-9-1 exchange (RabbitMQ) on a confirm channel: a message is handled only once the broker confirmed it, retried with backoff on a new connection while the broker is away, and dead-lettered after `timeoutMs` or when the broker refuses it.",
  capabilities: ["network"],
  services: [metrics],
  inputs: { in: port.any() },
  outputs: {},
  config,
  create: (ctx, cfg) => {
    let link: { connection: ChannelModel; channel: ConfirmChannel } | undefined;
    let published = 0;
    let opening: Promise<void> | undefined;
    const state = new ConnectionState(ctx, `amqp ${cfg.url}`);
    const open = async () => {
      const connection = await connectAmqp(ctx, cfg);
      connection.on("error", (err: Error) => state.error(err));
      const channel = await connection.createConfirmChannel();
      const opened = { connection, channel };
      const drop = () => {
        if (link !== opened) return;
        link = undefined;
        state.down();
      };
      connection.on("close", drop);
      channel.on("close", drop);
      channel.on("error", (err: Error) => state.error(`channel: ${err.message}`));
      // A missing exchange closes the channel: refuse the deploy instead.
      await channel.checkExchange(cfg.exchange || "amq.direct");
      link = opened;
      state.up();
    };
    const confirmed = (channel: ConfirmChannel, body: Buffer) =>
      new Promise<void>((resolve, reject) => {
        channel.publish(cfg.exchange, cfg.routingKey, body, { persistent: cfg.persistent }, (err: unknown) => (err ? reject(new Error("the broker refused the message (nack)")) : resolve()));
      });
    return {
      async start() {
        await open().catch((err: Error) => Promise.reject(new Error(`amqp ${cfg.url}: ${err.message}`)));
      },
      async onMessage(_port, message) {
        const body = encode(message.payload, cfg);
        const deadline = Date.now() + cfg.timeoutMs;
        for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
          try {
            // One new connection for all the messages waiting on the lost one.
            if (!link) await (opening ??= open().finally(() => (opening = undefined)));
            await confirmed(link!.channel, body);
            published++;
            return;
          } catch (err) {
            if (Date.now() + wait > deadline) throw new Error(`amqp publish to ${cfg.exchange || "(default)"}/${cfg.routingKey}: not confirmed within ${cfg.timeoutMs} ms (${(err as Error).message})`);
            await new Promise((r) => setTimeout(r, wait));
          }
        }
      },
      async stop() {
        await link?.connection.close().catch(() => undefined);
      },
      status: () => ({ ...state.status(), published }),
    };
  },
});
