/**
 * What the MQTT source and sink share: the broker address, the client's identity and its
 * credentials. The password is read from a file in the pipeline's data folder, so it stays out
 * of the pipeline JSON kept in Git.
 */
import type { IClientOptions } from "mqtt";
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { passwordFileField, readPassword } from "../connectors/payload";

export const brokerFields = {
  url: z
    .string()
    .max(2048)
    .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, "an mqtt://, mqtts://, ws:// or wss:// URL")
    .describe("The broker, e.g. mqtt://127.0.0.1:1883"),
  clientId: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe("The client's id; with it (and cleanSession false) the broker keeps the session and the QoS 1/2 messages sent while the pipeline was down"),
  username: z.string().max(256).optional(),
  passwordFile: passwordFileField,
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe("MQTT 3.1.1 (4) or 5"),
};

export const qosField = z.union([z.literal(0), z.literal(1), z.literal(2)]);

export interface BrokerConfig {
  url: string;
  clientId?: string;
  username?: string;
  passwordFile?: string;
  protocolVersion: 4 | 5;
}

export async function clientOptions(ctx: NodeContext, config: BrokerConfig, extra: IClientOptions = {}): Promise<IClientOptions> {
  const password = await readPassword(ctx, config.passwordFile);
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
