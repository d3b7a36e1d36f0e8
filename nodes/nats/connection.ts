/**
 * What the NATS source and sink share: the servers, the credentials (the password from a file
 * in the pipeline's data folder, never in the pipeline JSON), and the connection's status.
 * These nodes talk to the user's own subjects and streams; Evoflow's internal ones
 * (`evoflow.*` subjects, `EVOFLOW_*` streams, see runtime/transport/nats-names.ts) are refused,
 * since a node that read or wrote them could forge or steal another pipeline's edges.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { passwordFields, readPassword, type ConnectionState, type PasswordConfig } from "../connectors/shared";

export const serverFields = {
  servers: z
    .array(z.string().max(2048).regex(/^(nats|tls|wss?):\/\/[^\s@]+$/, "a nats://, tls://, ws:// or wss:// URL without credentials"))
    .min(1)
    .max(16)
    .describe("The NATS servers, e.g. [\"nats://127.0.0.1:4222\"]"),
  user: z.string().max(256).optional(),
  ...passwordFields,
};

export const subjectField = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[^\s]+$/, "a subject has no spaces")
  .refine((s) => !/^evoflow(\.|$)/i.test(s), "`evoflow.*` subjects are Evoflow's own edges");

export const streamField = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s.*>/\\]+$/, "a stream name has no spaces, dots, wildcards or slashes")
  .refine((s) => !/^EVOFLOW_/i.test(s), "`EVOFLOW_*` streams are Evoflow's own edges");

export interface ServerConfig extends PasswordConfig {
  servers: string[];
  user?: string;
}

/**
 * The NATS client, loaded when a NATS node starts (as the other connectors' clients are):
 * the main job, which runs none, does not hold it (~1.5 MB of heap).
 */
export async function natsClient() {
  const [core, js] = await Promise.all([import("@nats-io/transport-node"), import("@nats-io/jetstream")]);
  return { connect: core.connect, headers: core.headers, jetstream: js.jetstream };
}

/** Connects (refusing the deploy when no server answers) and keeps `state` current while the client reconnects by itself. */
export async function connectNats(ctx: NodeContext, config: ServerConfig, state: ConnectionState): Promise<NatsConnection> {
  const { connect } = await natsClient();
  const nc = await connect({
    servers: config.servers,
    user: config.user,
    pass: await readPassword(ctx, config),
    name: `evoflow-${ctx.pipeline}-${ctx.nodeId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  });
  state.up();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") state.down();
      else if (s.type === "reconnect") state.up();
      else if (s.type === "error") state.error(String(s.error));
    }
  })();
  return nc;
}
