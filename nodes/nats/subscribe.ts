import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { decodeFields } from "../connectors/formats";
import { handOff } from "../connectors/hand-off";
import { ConnectionState } from "../connectors/shared";
import { connectNats, natsClient, serverFields, streamField, subjectField } from "./connection";

const config = z
  .object({
    ...serverFields,
    subject: subjectField.optional().describe("Core NATS: the subject (wildcards `*` and `>` allowed) to subscribe to — at most once"),
    queue: z.string().min(1).max(256).optional().describe("Core NATS: a queue group, so the pipeline's replicas (or other clients) share the subject's messages"),
    stream: streamField.optional().describe("JetStream: a stream you own (with `consumer`) — at least once"),
    consumer: z.string().min(1).max(256).regex(/^[^\s.*>]+$/, "a consumer name has no spaces, dots or wildcards").optional().describe("JetStream: the durable pull consumer on `stream` to read through; it keeps the position across restarts"),
    batch: z.number().int().min(1).max(10_000).default(64).describe("JetStream: messages fetched at a time; no fetch while they are being handed on"),
    ...decodeFields,
    output: z.enum(["payload", "message"]).default("payload").describe("Emit the payload alone, or `{ subject, payload }`"),
  })
  .superRefine((c, issue) => {
    if (c.subject === undefined && c.stream === undefined) issue.addIssue({ code: "custom", message: "give a `subject` (core NATS) or a `stream` and `consumer` (JetStream)", path: ["subject"] });
    if (c.subject !== undefined && c.stream !== undefined) issue.addIssue({ code: "custom", message: "a `subject` or a `stream`, not both", path: ["stream"] });
    if (c.stream !== undefined && c.consumer === undefined) issue.addIssue({ code: "custom", message: "a JetStream source needs the durable `consumer` it reads through", path: ["consumer"] });
    if (c.queue !== undefined && c.subject === undefined) issue.addIssue({ code: "custom", message: "a queue group is for a core `subject`; a JetStream consumer is shared by itself", path: ["queue"] });
  });

type Config = z.output<typeof config>;

export default defineNode({
  type: "nats.subscribe",
  category: "connectors",
  title: "NATS subscribe",
  description:
    "Receives the messages of a NATS subject (optionally in a queue group), or of a JetStream stream through a durable pull consumer you created on it. Core subjects are at most once, as NATS itself. JetStream is at least once: a message is acknowledged only once the first edge took it, and the next batch is fetched only when the last one was handed on, so a full `block` edge stops the fetching; a message not acknowledged (the pipeline died) is delivered again after the consumer's ack wait. A message that cannot be read goes to the dead letters and is acknowledged.",
  capabilities: ["network"],
  services: [metrics],
  inputs: {},
  outputs: { out: port.any() },
  config,
  create: (ctx, cfg) => {
    const state = new ConnectionState(ctx, `nats ${cfg.servers.join(",")}`);
    const counts = { received: 0, emitted: 0, deadLetters: 0 };
    let nc: NatsConnection | undefined;
    let stopping = false;
    let running: Promise<void> | undefined;
    let subscription: Subscription | undefined;
    let fetching: ConsumerMessages | undefined;

    const toPayload = (m: Msg | JsMsg) => ({
      bytes: m.data,
      format: cfg,
      where: `nats message on ${m.subject}`,
      wrap: cfg.output === "message" ? (payload: unknown) => ({ subject: m.subject, payload }) : undefined,
    });

    return {
      async start(emit) {
        nc = await connectNats(ctx, cfg, state);
        try {
          if (cfg.stream) {
            const read = await readConsumer(nc, cfg, state, {
              stopping: () => stopping,
              fetched: (f) => (fetching = f),
              handle: (m) => handOff(ctx, emit, counts, toPayload(m)),
            });
            running = read();
          } else {
            subscription = nc.subscribe(cfg.subject!, { queue: cfg.queue });
            const sub = subscription;
            running = (async () => {
              // One at a time: a full edge holds the loop (core NATS cannot pause the server; the client buffers).
              for await (const m of sub) await handOff(ctx, emit, counts, toPayload(m));
            })();
            // Started means subscribed: the server knows the subscription (and its queue group) before start resolves.
            await nc.flush();
          }
        } catch (err) {
          await nc.close();
          throw err;
        }
      },
      async stop() {
        stopping = true;
        subscription?.unsubscribe();
        fetching?.stop();
        await running;
        await nc?.close();
      },
      status: () => ({ ...state.status(), ...counts }),
    };
  },
});

/**
 * Checks the consumer at deploy (a missing stream or consumer refuses the deploy), then returns
 * the fetch loop to run: one batch, each message handed on and then acknowledged, then the next batch.
 */
async function readConsumer(
  nc: NatsConnection,
  cfg: Config,
  state: ConnectionState,
  loop: { stopping: () => boolean; fetched: (f: ConsumerMessages) => void; handle: (m: JsMsg) => Promise<void> },
): Promise<() => Promise<void>> {
  const { jetstream } = await natsClient();
  const consumer = await jetstream(nc)
    .consumers.get(cfg.stream!, cfg.consumer!)
    .catch((err: Error) => Promise.reject(new Error(`nats consumer ${cfg.consumer} on stream ${cfg.stream}: ${err.message}`)));
  const info = await consumer.info().catch((err: Error) => Promise.reject(new Error(`nats consumer ${cfg.consumer} on stream ${cfg.stream}: ${err.message}`)));
  // While a hand-off waits for a full edge, `working` keeps the server from redelivering the message.
  const keepAliveMs = Math.max(1000, (info.config.ack_wait ?? 30e9) / 2_000_000);
  return async () => {
    while (!loop.stopping()) {
      try {
        const batch = await consumer.fetch({ max_messages: cfg.batch, expires: 5000 });
        loop.fetched(batch);
        for await (const m of batch) {
          const keepAlive = setInterval(() => m.working(), keepAliveMs);
          try {
            await loop.handle(m);
          } finally {
            clearInterval(keepAlive);
          }
          m.ack();
        }
      } catch (err) {
        if (loop.stopping()) break;
        state.error(`consumer ${cfg.consumer}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
}
