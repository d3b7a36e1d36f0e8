/** What the Redis Streams source and sink share: the server, its credentials, the stream and the field holding the payload. */
import type { Redis, RedisOptions } from "ioredis";
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { ConnectionState, passwordFields, readPassword, serverUrl, type PasswordConfig } from "../connectors/shared";

export const serverFields = {
  url: serverUrl("rediss?", "a redis:// or rediss:// URL", "redis://127.0.0.1:6379/0"),
  username: z.string().max(256).optional(),
  ...passwordFields,
  stream: z.string().min(1).max(1024).describe("The stream's key"),
  field: z.string().min(1).max(256).default("data").describe("The entry's field that holds the payload"),
};

export interface ServerConfig extends PasswordConfig {
  url: string;
  username?: string;
}

/** A client that reconnects by itself (every 0.2–2 s), reporting into `state`. */
export async function connectRedis(ctx: NodeContext, cfg: ServerConfig, state: ConnectionState, extra: RedisOptions = {}): Promise<Redis> {
  // The client library loads when a node of this kind starts: every runtime and worker holds the node types, few use each broker.
  const { Redis } = await import("ioredis");
  const client = new Redis(cfg.url, {
    username: cfg.username,
    password: await readPassword(ctx, cfg),
    lazyConnect: true,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    ...extra,
  });
  client.on("ready", () => state.up());
  client.on("close", () => state.down());
  let firstError: Error | undefined;
  client.on("error", (err: Error) => ((firstError ??= err), state.error(err)));
  // A server that cannot be reached (or refuses the credentials) at deploy refuses the deploy, with the reason.
  await client.connect().catch((err: Error) => {
    client.disconnect();
    throw new Error(`redis ${cfg.url}: ${(firstError ?? err).message}`);
  });
  return client;
}

/** An entry's fields (a flat [name, value, …] list) as an object of strings, the payload field as bytes. */
export function fieldsOf(flat: Buffer[]): Map<string, Buffer> {
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i].toString(), flat[i + 1]);
  return fields;
}
