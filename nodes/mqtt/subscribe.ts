import type { MqttClient, IPublishPacket } from "mqtt";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { decode, decodeFields } from "../connectors/formats";
import { ConnectionState } from "../connectors/shared";
import { brokerFields, clientOptions, qosField } from "./connection";

const config = z.object({
  ...brokerFields,
  topics: z
    .array(z.string().min(1).max(1024))
    .min(1)
    .max(100)
    .describe("Topic filters to subscribe to; `+` matches one level, `#` the rest (sensors/+/temp, plant/#)"),
  qos: qosField.default(1).describe("0 at most once; 1 at least once (acknowledged once the first edge took the message); 2 exactly once between broker and client"),
  cleanSession: z.boolean().optional().describe("Start without the broker's stored session; defaults to false with a clientId (a persistent session), true without"),
  sessionExpirySeconds: z
    .number()
    .int()
    .min(0)
    .max(4_294_967_295)
    .default(86_400)
    .describe("MQTT 5: how long the broker keeps a persistent session (and its queued messages) while the pipeline is away"),
  ...decodeFields,
  output: z.enum(["payload", "message"]).default("payload").describe("Emit the payload alone, or `{ topic, payload, qos, retain }`"),
});

/** A topic filter as MQTT allows it: `+` and `#` each a whole level, `#` only last. */
function filterProblem(filter: string): string | undefined {
  const levels = filter.split("/");
  for (const [i, level] of levels.entries()) {
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) return "`#` must be a whole level and the last one";
    if (level.includes("+") && level !== "+") return "`+` must be a whole level";
  }
  return undefined;
}

export default defineNode({
  type: "mqtt.subscribe",
  category: "connectors",
  title: "MQTT subscribe",
  description:
    "Receives the messages of an MQTT broker's topics (wildcards allowed). At least once with QoS 1: a message is acknowledged to the broker only once the first edge accepted it (a full `block` edge holds the acknowledgement, and the broker's in-flight window pauses the stream); with a clientId the broker keeps the session, so messages sent while the pipeline was down (or paused) arrive when it is back — as many as the broker queues per session (mosquitto: max_queued_messages, 1000 by default; it drops beyond). A message that cannot be read goes to the dead letters and is acknowledged.",
  capabilities: ["network"],
  services: [metrics],
  inputs: {},
  outputs: { out: port.any() },
  config: config.superRefine((c, issue) => {
    c.topics.forEach((t, i) => {
      const problem = filterProblem(t);
      if (problem) issue.addIssue({ code: "custom", message: `topic filter "${t}": ${problem}`, path: ["topics", i] });
    });
  }),
  create: (ctx, cfg) => {
    let client: MqttClient | undefined;
    const counts = { received: 0, emitted: 0, deadLetters: 0 };
    const state = new ConnectionState(ctx, `mqtt ${cfg.url}`);

    return {
      async start(emit) {
        const clean = cfg.cleanSession ?? cfg.clientId === undefined;
        // MQTT 5 ends a session when its client disconnects unless told how long to keep it.
        const properties = cfg.protocolVersion === 5 && !clean ? { sessionExpiryInterval: cfg.sessionExpirySeconds } : undefined;
        const options = await clientOptions(ctx, cfg, { clean, properties, manualConnect: true });
        // The client library loads when a node of this kind starts: every runtime and worker holds the node types, few use each broker.
        const { connect } = await import("mqtt");
        client = connect(cfg.url, options);
        // mqtt.js calls handleMessage for each incoming publish and sends the PUBACK (QoS 1) or
        // PUBCOMP (QoS 2) only when its callback runs, and reads no further packet meanwhile:
        // overriding it is how the acknowledgement waits for the hand-off, and how a full edge
        // pauses the stream.
        client.handleMessage = (packet, done) => {
          counts.received++;
          const read = decode(packet.payload as Buffer, cfg, `mqtt message on ${packet.topic}`);
          const handOff = read.ok
            ? emit("out", cfg.output === "payload" ? read.value : { topic: packet.topic, payload: read.value, qos: packet.qos, retain: packet.retain }).then(() => void counts.emitted++)
            : ctx.deadLetter(new Uint8Array(packet.payload as Buffer), read.reason).then(() => void counts.deadLetters++);
          // A failure downstream was dead-lettered there: the message was handed off all the same.
          handOff.catch((err: Error) => ctx.log("warn", `mqtt message on ${packet.topic}: ${err.message}`)).finally(() => done());
        };
        client.on("connect", () => state.up());
        client.on("close", () => state.down());
        client.on("error", (err) => state.error(err));
        client.connect();
        // The subscription is made once the first connection is up, and the session keeps it.
        // A broker that cannot be reached at deploy refuses the deploy (the reason in the 422);
        // once running, mqtt.js reconnects by itself.
        await new Promise<void>((resolve, reject) => {
          client!.once("connect", (connack) => {
            if (connack.sessionPresent && !options.clean) return resolve();
            client!.subscribe(cfg.topics, { qos: cfg.qos }, (err, granted) => {
              const refused = granted?.filter((g) => g.qos === 128);
              if (err || refused?.length) reject(new Error(`mqtt subscribe to ${cfg.topics.join(", ")} refused: ${err?.message ?? refused!.map((g) => g.topic).join(", ")}`));
              else resolve();
            });
          });
          client!.once("error", reject);
        }).catch((err: Error) => {
          client!.end(true);
          throw err;
        });
      },
      async stop() {
        // Not forced: an acknowledgement being sent is still sent; what was not handed off stays with the broker.
        await client?.endAsync();
      },
      status: () => ({ ...state.status(), ...counts }),
    };
  },
});
