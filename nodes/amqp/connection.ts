/**
 * What the AMQP source and sink share: the broker URL (without credentials: the password comes
 * from a file in the pipeline's data folder), and a connection that is made again after the
 * broker went away, since amqplib does not reconnect by itself.
 */
import type { ChannelModel } from "amqplib";
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { passwordFields, readPassword, type ConnectionState, type PasswordConfig } from "../connectors/shared";

export const brokerFields = {
  url: z
    .string()
    .max(2048)
    .regex(/^amqps?:\/\/[^\s@]+$/, "an amqp:// or amqps:// URL without credentials (give `username` and `password` or `passwordFile`)")
    .describe("The broker and virtual host, e.g. amqp://127.0.0.1:5672/%2F"),
  username: z.string().max(256).optional(),
  ...passwordFields,
};

export interface BrokerConfig extends PasswordConfig {
  url: string;
  username?: string;
}

export async function connectAmqp(ctx: NodeContext, config: BrokerConfig): Promise<ChannelModel> {
  const url = new URL(config.url);
  if (config.username) url.username = encodeURIComponent(config.username);
  const password = await readPassword(ctx, config);
  if (password !== undefined) url.password = encodeURIComponent(password);
  // The client library loads when a node of this kind starts: every runtime and worker holds the node types, few use each broker.
  const { connect } = await import("amqplib");
  return connect(url.toString(), { clientProperties: { connection_name: `evoflow-${ctx.pipeline}-${ctx.nodeId}` } });
}

/**
 * Runs `open` on a fresh connection now (a failure refuses the deploy) and again, once a second,
 * after the connection is lost, until `stopping()`; `state` shows which.
 */
export async function keepConnected(ctx: NodeContext, config: BrokerConfig, state: ConnectionState, stopping: () => boolean, open: (c: ChannelModel) => Promise<void>): Promise<() => ChannelModel | undefined> {
  let current: ChannelModel | undefined;
  const attach = async () => {
    const c = await connectAmqp(ctx, config);
    c.on("error", (err: Error) => state.error(err));
    c.on("close", () => {
      // Only the connection in use: one closed after a failed open must not start a second retry loop.
      if (current !== c) return;
      current = undefined;
      state.down();
      if (!stopping()) void retry();
    });
    try {
      await open(c);
    } catch (err) {
      await c.close().catch(() => undefined);
      throw err;
    }
    current = c;
    state.up();
  };
  const retry = async () => {
    while (!stopping() && !current) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        await attach();
      } catch (err) {
        state.error(err as Error);
      }
    }
  };
  await attach();
  return () => current;
}
