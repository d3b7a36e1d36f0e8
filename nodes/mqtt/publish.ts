import type { MqttClient } from "mqtt";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { encode, encodeFields } from "../connectors/formats";
import { ConnectionState } from "../connectors/shared";
import { brokerFields, clientOptions, qosField } from "./connection";

const config = z.object({
  ...brokerFields,
  topic: z
    .string()
    .min(1)
    .max(1024)
    .refine((t) => !/[+#]/.test(t), "a topic to publish to has no wildcards")
    .describe("The topic each message is published to"),
  qos: qosField.default(1).describe("1 or 2: a message counts as handled once the broker acknowledged it"),
  retain: z.boolean().default(false).describe("The broker keeps the last message for new subscribers"),
  ...encodeFields,
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe("How long a message may wait for the broker (while it is unreachable) before it goes to the dead letters"),
});

export default defineNode({
  type: "mqtt.publish",
  category: "connectors",
  title: "MQTT publish",
  description:
    "Publishes each message to an MQTT topic. With QoS 1 or 2 a message is handled only once the broker acknowledged it, so an async edge before it holds the messages while the broker is away (and fills, and pushes back) and a message is dead-lettered only after `timeoutMs`.",
  capabilities: ["network"],
  services: [metrics],
  inputs: { in: port.any() },
  outputs: {},
  config,
  create: (ctx, cfg) => {
    let client: MqttClient | undefined;
    let published = 0;
    const state = new ConnectionState(ctx, `mqtt ${cfg.url}`);
    return {
      async start() {
        const { connect } = await import("mqtt"); // loaded by the first mqtt node that starts, as in mqtt.subscribe
        client = connect(cfg.url, await clientOptions(ctx, cfg));
        client.on("connect", () => state.up());
        client.on("close", () => state.down());
        client.on("error", (err) => state.error(err));
      },
      async onMessage(_port, message) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`mqtt publish to ${cfg.topic}: no acknowledgement from ${cfg.url} within ${cfg.timeoutMs} ms`)), cfg.timeoutMs);
        });
        try {
          await Promise.race([client!.publishAsync(cfg.topic, encode(message.payload, cfg), { qos: cfg.qos, retain: cfg.retain }), timeout]);
          published++;
        } finally {
          clearTimeout(timer);
        }
      },
      async stop() {
        await client?.endAsync();
      },
      status: () => ({ ...state.status(), published }),
    };
  },
});
