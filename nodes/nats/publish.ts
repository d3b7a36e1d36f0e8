import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { encode, encodeFields } from "../connectors/formats";
import { ConnectionState } from "../connectors/shared";
import { connectNats, natsClient, serverFields, subjectField } from "./connection";

const config = z
  .object({
    ...serverFields,
    subject: subjectField.refine((s) => !/(^|\.)[*>](\.|$)/.test(s), "a subject to publish to has no wildcards").describe("The subject each message is published to"),
    jetstream: z.boolean().default(false).describe("Publish into the stream that captures the subject and count a message as handled only once JetStream acknowledged it"),
    idempotencyKey: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe("JetStream: the payload field whose value is sent as Nats-Msg-Id, so the stream drops a redelivered message within its duplicate window"),
    ...encodeFields,
    timeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe("How long a message may be retried (while the server is away) before it goes to the dead letters"),
  })
  .superRefine((c, issue) => {
    if (c.idempotencyKey !== undefined && !c.jetstream) issue.addIssue({ code: "custom", message: "an idempotency key needs `jetstream: true` (core NATS has no dedupe)", path: ["idempotencyKey"] });
  });

export default defineNode({
  type: "nats.publish",
  category: "connectors",
  title: "NATS publish",
  description:
    "Publishes each message to a NATS subject. With `jetstream` a message is handled only once the stream acknowledged it, retried with backoff while the server is away and dead-lettered after `timeoutMs`; `idempotencyKey` names the payload field sent as Nats-Msg-Id, so a message sent again after a crash is stored once. Without it, core NATS: sent once the client wrote it, at most once.",
  capabilities: ["network"],
  services: [metrics],
  inputs: { in: port.any() },
  outputs: {},
  config,
  create: (ctx, cfg) => {
    let nc: NatsConnection | undefined;
    let client: Awaited<ReturnType<typeof natsClient>> | undefined;
    const state = new ConnectionState(ctx, `nats ${cfg.servers.join(",")}`);
    const counts = { published: 0, duplicates: 0 };
    return {
      async start() {
        client = await natsClient();
        nc = await connectNats(ctx, cfg, state);
      },
      async onMessage(_port, message) {
        const data = encode(message.payload, cfg);
        if (!cfg.jetstream) {
          nc!.publish(cfg.subject, data);
          counts.published++;
          return;
        }
        const h = client!.headers();
        if (cfg.idempotencyKey !== undefined) {
          const key = (message.payload as Record<string, unknown> | null)?.[cfg.idempotencyKey];
          if (typeof key !== "string" && typeof key !== "number") throw new Error(`nats publish: the payload has no string or number field "${cfg.idempotencyKey}" for Nats-Msg-Id`);
          h.set("Nats-Msg-Id", String(key));
        }
        const js = client!.jetstream(nc!);
        const deadline = Date.now() + cfg.timeoutMs;
        for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
          try {
            const ack = await js.publish(cfg.subject, data, { headers: h, timeout: Math.max(100, Math.min(5000, deadline - Date.now())) });
            if (ack.duplicate) counts.duplicates++;
            else counts.published++;
            return;
          } catch (err) {
            if (Date.now() + wait > deadline) throw new Error(`nats publish to ${cfg.subject}: no JetStream acknowledgement within ${cfg.timeoutMs} ms (${(err as Error).message})`);
            await new Promise((r) => setTimeout(r, wait));
          }
        }
      },
      async stop() {
        await nc?.drain();
      },
      status: () => ({ ...state.status(), ...counts }),
    };
  },
});
