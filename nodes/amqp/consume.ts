import type { Channel, ChannelModel } from "amqplib";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { decodeFields } from "../connectors/formats";
import { handOff } from "../connectors/hand-off";
import { ConnectionState } from "../connectors/shared";
import { brokerFields, keepConnected } from "./connection";

const config = z.object({
  ...brokerFields,
  queue: z.string().min(1).max(255).describe("The queue to consume (it must exist: the broker's topology is yours)"),
  prefetch: z.number().int().min(1).max(65_535).default(32).describe("Unacknowledged messages the broker may send ahead; while they wait for a full edge it sends no more"),
  ...decodeFields,
  output: z.enum(["payload", "message"]).default("payload").describe("Emit the payload alone, or `{ exchange, routingKey, payload }`"),
});

export default defineNode({
  type: "amqp.consume",
  category: "connectors",
  title: "AMQP consume",
  description:
    "Consumes an AMQP 0-9-1 queue (RabbitMQ) with manual acknowledgements: a message is acknowledged only once the first edge took it, and `prefetch` bounds what is in flight, so a full `block` edge stops the broker sending. A message not acknowledged when the connection or the pipeline dies is delivered again. A message that cannot be read goes to the dead letters and is acknowledged. The connection is made again after the broker went away.",
  capabilities: ["network"],
  services: [metrics],
  inputs: {},
  outputs: { out: port.any() },
  config,
  create: (ctx, cfg) => {
    const state = new ConnectionState(ctx, `amqp ${cfg.url}`);
    const counts = { received: 0, emitted: 0, deadLetters: 0 };
    let stopping = false;
    let connection: () => ChannelModel | undefined = () => undefined;
    const inFlight = new Set<Promise<void>>();
    let current: Channel | undefined;
    return {
      async start(emit) {
        connection = await keepConnected(ctx, cfg, state, () => stopping, async (c) => {
          const channel = await c.createChannel();
          current = channel;
          await channel.prefetch(cfg.prefetch);
          await channel.checkQueue(cfg.queue).catch((err: Error) => Promise.reject(new Error(`amqp queue ${cfg.queue}: ${err.message}`)));
          await channel.consume(
            cfg.queue,
            (m) => {
              if (!m) return; // cancelled by the broker: the connection's close brings a new consumer
              const wrap = cfg.output === "message" ? (payload: unknown) => ({ exchange: m.fields.exchange, routingKey: m.fields.routingKey, payload }) : undefined;
              const handed: Promise<void> = handOff(ctx, emit, counts, { bytes: m.content, format: cfg, where: `amqp message from ${cfg.queue}`, wrap })
                .then(() => channel.ack(m))
                // A channel lost meanwhile: the broker gives the message again.
                .catch((err: Error) => ctx.log("warn", `amqp ack on ${cfg.queue}: ${err.message}`))
                .finally(() => inFlight.delete(handed));
              inFlight.add(handed);
            },
            { noAck: false },
          );
        }).catch(async (err: Error) => Promise.reject(new Error(`amqp ${cfg.url}: ${err.message}`)));
      },
      async stop() {
        stopping = true;
        // Hand-offs under way get a moment to finish and be acknowledged; what is still stuck
        // after it stays unacknowledged, and the broker gives it to the next consumer.
        await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 2000))]);
        // The channel's close-ok comes after the broker processed the acks sent before it.
        await current?.close().catch(() => undefined);
        await connection()?.close().catch(() => undefined);
      },
      status: () => ({ ...state.status(), ...counts }),
    };
  },
});
