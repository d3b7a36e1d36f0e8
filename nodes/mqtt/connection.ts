/**
 * What the MQTT source and sink share: the broker address, the client's identity and its
 * credentials. The password is a secret reference or a file in the pipeline's data folder
 * (nodes/connectors/shared.ts), so it stays out of the pipeline JSON kept in Git.
 */
import type { IClientOptions } from "mqtt";
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { passwordFields, readPassword, serverUrl, type PasswordConfig } from "../connectors/shared";

export const brokerFields = {
  url: serverUrl("(mqtts?|wss?)", "an mqtt://, mqtts://, ws:// or wss:// URL", "mqtt://127.0.0.1:1883"),
  clientId: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe("The client's id; with it (and cleanSession false) the broker keeps the session and the QoS 1/2 messages sent while the pipeline was down"),
  username: z.string().max(256).optional(),
  ...passwordFields,
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe("MQTT 3.1.1 (4) or 5"),
};

export const qosField = z.union([z.literal(0), z.literal(1), z.literal(2)]);

export interface BrokerConfig extends PasswordConfig {
  url: string;
  clientId?: string;
  username?: string;
  protocolVersion: 4 | 5;
}

export async function clientOptions(ctx: NodeContext, config: BrokerConfig, extra: IClientOptions = {}): Promise<IClientOptions> {
  const password = await readPassword(ctx, config);
  return {
    clientId: config.clientId ?? `evoflow-${ctx.pipeline}-${ctx.nodeId}-${Math.random().toString(16).slice(2, 10)}`,
    username: config.username,
    password,
    protocolVersion: config.protocolVersion,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ...extra,
  };
}
