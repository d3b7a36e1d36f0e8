import type { Redis } from "ioredis";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { encode, encodeFields } from "../connectors/formats";
import { ConnectionState, withRetries } from "../connectors/shared";
import { connectRedis, serverFields } from "./connection";

const config = z.object({
  ...serverFields,
  maxLen: z.number().int().min(1).max(1e12).optional().describe("Trim the stream to about this many entries on each XADD (MAXLEN)"),
  approximate: z.boolean().default(true).describe("Trim with `~`: Redis removes whole nodes only, far cheaper, and keeps at least maxLen entries"),
  ...encodeFields,
  retries: z.number().int().min(0).max(100).default(6).describe("Further attempts after a failed XADD, waiting backoffMs, then twice that, … (the default rides out about 12 s, a server restart); then the message goes to the dead letters"),
  backoffMs: z.number().int().min(1).max(60_000).default(200),
});

export default defineNode({
  type: "redis.add",
  category: "connectors",
  title: "Redis stream add",
  description:
    "Appends each message to a Redis stream (XADD), optionally trimming it to `maxLen` entries. A message is handled once Redis answered; a failed XADD is tried again with backoff, then the message goes to the dead letters with the error.",
  capabilities: ["network"],
  services: [metrics],
  inputs: { in: port.any() },
  outputs: {},
  config,
  create: (ctx, cfg) => {
    const state = new ConnectionState(ctx, `redis ${cfg.url}`);
    let client: Redis | undefined;
    let added = 0;
    const trim = cfg.maxLen === undefined ? [] : ["MAXLEN", cfg.approximate ? "~" : "=", cfg.maxLen];
    return {
      async start() {
        // One attempt per command: the retries (with backoff) are this node's, so they end in a dead letter.
        client = await connectRedis(ctx, cfg, state, { maxRetriesPerRequest: 0 });
      },
      async onMessage(_port, message) {
        const body = encode(message.payload, cfg);
        await withRetries(cfg.retries, cfg.backoffMs, ctx.signal, () =>
          (client!.xadd as (...args: unknown[]) => Promise<string>)(cfg.stream, ...trim, "*", cfg.field, body).catch((err: Error) => {
            throw new Error(`redis XADD ${cfg.stream}: ${err.message}`);
          }),
        );
        added++;
      },
      async stop() {
        client?.disconnect();
      },
      status: () => ({ ...state.status(), added }),
    };
  },
});
