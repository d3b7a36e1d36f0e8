/**
 * What the MQTT source and sink share: the broker address, the client's identity and its
 * credentials. The password is read from a file in the pipeline's data folder, so it stays out
 * of the pipeline JSON kept in Git.
 */
import { readFile } from "node:fs/promises";
import type { IClientOptions } from "mqtt";
import { z } from "zod";
import { configPath, configSecret, type NodeContext } from "../../sdk";

export const brokerFields = {
  url: z
    .string()
    .max(2048)
    .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, "an mqtt://, mqtts://, ws:// or wss:// URL")
    .refine((u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(u), "a URL must not carry a password: give it as password, \"${secret:NAME}\"")
    .describe("The broker, e.g. mqtt://127.0.0.1:1883"),
  clientId: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe("The client's id; with it (and cleanSession false) the broker keeps the session and the QoS 1/2 messages sent while the pipeline was down"),
  username: z.string().max(256).optional(),
  password: configSecret({ describe: "The password, from the secret store or the environment" }).optional(),
  passwordFile: configPath({ kind: "file", describe: "A file in the pipeline's data folder holding the password (kept out of the pipeline JSON)" }).optional(),
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe("MQTT 3.1.1 (4) or 5"),
};

export const qosField = z.union([z.literal(0), z.literal(1), z.literal(2)]);

export interface BrokerConfig {
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  protocolVersion: 4 | 5;
}

export async function clientOptions(ctx: NodeContext, config: BrokerConfig, extra: IClientOptions = {}): Promise<IClientOptions> {
  const password = config.password
    ? await ctx.secret(config.password)
    : config.passwordFile
      ? (await readFile(await ctx.resolvePath(config.passwordFile, { mustExist: true }), "utf8")).trim()
      : undefined;
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

/** A payload as bytes on the wire: JSON unless it is text or bytes already and `format` says so. */
export function encode(payload: unknown, format: "json" | "text" | "bytes"): Buffer | string {
  if (format === "text") return typeof payload === "string" ? payload : JSON.stringify(payload);
  if (format === "bytes" && payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return JSON.stringify(payload);
}
