import type { Redis } from "ioredis";
import { z } from "zod";
import { defineNode, port, type Emit } from "../../sdk";
import { metrics } from "../services";
import { decode, decodeFields } from "../connectors/formats";
import { ConnectionState } from "../connectors/shared";
import { connectRedis, fieldsOf, serverFields } from "./connection";

const config = z.object({
  ...serverFields,
  group: z.string().min(1).max(256).describe("The consumer group; replicas and restarts in one group share the stream's entries"),
  consumer: z.string().min(1).max(256).optional().describe("This reader's name in the group; defaults to <pipeline>-<node id>, so a restart takes back its own pending entries"),
  startAt: z.enum(["new", "all"]).default("new").describe("Where a group created by this node starts: new entries only ($), or the whole stream (0)"),
  count: z.number().int().min(1).max(10_000).default(100).describe("Entries read per XREADGROUP"),
  blockMs: z.number().int().min(10).max(60_000).default(1000).describe("How long one XREADGROUP waits for new entries"),
  claimIdleMs: z
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(30_000)
    .describe("Entries another consumer of the group read but did not acknowledge for this long (it crashed) are claimed with XAUTOCLAIM and handled here"),
  ...decodeFields,
  output: z.enum(["payload", "message"]).default("payload").describe("Emit the payload alone, or `{ id, stream, payload }`"),
});

type Entry = [id: Buffer, fields: Buffer[]];

export default defineNode({
  type: "redis.read",
  category: "connectors",
  title: "Redis stream read",
  description:
    "Reads a Redis stream as a member of a consumer group (XREADGROUP). At least once: an entry is acknowledged (XACK) only once the first edge accepted it, and the next read waits for that, so a full `block` edge stops the reading. On start the consumer first takes back its own pending entries; entries another consumer left unacknowledged for `claimIdleMs` are claimed (XAUTOCLAIM). An entry without the payload field, or whose payload cannot be read, goes to the dead letters and is acknowledged.",
  capabilities: ["network"],
  services: [metrics],
  inputs: {},
  outputs: { out: port.any() },
  config,
  create: (ctx, cfg) => {
    const state = new ConnectionState(ctx, `redis ${cfg.url}`);
    const counts = { received: 0, emitted: 0, deadLetters: 0, claimed: 0 };
    const consumer = cfg.consumer ?? `${ctx.pipeline}-${ctx.nodeId}`;
    let client: Redis | undefined;
    let stopping = false;
    let loop: Promise<void> | undefined;

    /** Hands each entry on, in order, then acknowledges them all in one XACK. */
    async function handle(emit: Emit, entries: Entry[]): Promise<void> {
      const done: string[] = [];
      for (const [rawId, flat] of entries) {
        if (stopping) break;
        const id = rawId.toString();
        counts.received++;
        const bytes = fieldsOf(flat ?? []).get(cfg.field);
        const read = bytes ? decode(bytes, cfg, `redis entry ${cfg.stream} ${id}`) : { ok: false as const, reason: `redis entry ${cfg.stream} ${id} has no field "${cfg.field}"` };
        try {
          if (read.ok) {
            await emit("out", cfg.output === "payload" ? read.value : { id, stream: cfg.stream, payload: read.value });
            counts.emitted++;
          } else {
            await ctx.deadLetter(bytes ? new Uint8Array(bytes) : Object.fromEntries([...fieldsOf(flat ?? [])].map(([k, v]) => [k, v.toString()])), read.reason);
            counts.deadLetters++;
          }
        } catch (err) {
          // A failure downstream was dead-lettered there: the entry was handed off all the same.
          ctx.log("warn", `redis entry ${cfg.stream} ${id}: ${(err as Error).message}`);
        }
        done.push(id);
      }
      if (done.length) await client!.xack(cfg.stream, cfg.group, ...done);
    }

    async function run(emit: Emit): Promise<void> {
      let ownPending = true; // first our own entries read before a crash, from id 0
      let lastClaim = 0;
      while (!stopping) {
        try {
          if (Date.now() - lastClaim >= Math.max(cfg.claimIdleMs / 2, 100)) {
            lastClaim = Date.now();
            let cursor = "0-0";
            do {
              const [next, entries] = (await client!.callBuffer("XAUTOCLAIM", cfg.stream, cfg.group, consumer, cfg.claimIdleMs, cursor, "COUNT", cfg.count)) as unknown as [Buffer, Entry[]];
              cursor = next.toString();
              // Entries deleted from the stream come back as null fields: nothing to hand on.
              const live = entries.filter((e) => e[1]);
              counts.claimed += live.length;
              await handle(emit, live);
            } while (cursor !== "0-0" && !stopping);
          }
          const reply = (await client!.xreadgroupBuffer("GROUP", cfg.group, consumer, "COUNT", cfg.count, "BLOCK", ownPending ? 1 : cfg.blockMs, "STREAMS", cfg.stream, ownPending ? "0" : ">")) as [Buffer, Entry[]][] | null;
          const entries = reply?.[0]?.[1] ?? [];
          if (ownPending && entries.length === 0) ownPending = false;
          await handle(emit, entries);
        } catch (err) {
          if (stopping) return;
          state.error(err as Error);
          // Entries the server gave us whose reply (or XACK) the lost link ate stay pending to this
          // consumer: read them again first rather than wait claimIdleMs for XAUTOCLAIM.
          ownPending = true;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }

    return {
      async start(emit) {
        client = await connectRedis(ctx, cfg, state);
        await client.xgroup("CREATE", cfg.stream, cfg.group, cfg.startAt === "new" ? "$" : "0", "MKSTREAM").catch((err: Error) => {
          if (!/BUSYGROUP/.test(err.message)) throw new Error(`redis XGROUP CREATE ${cfg.stream} ${cfg.group}: ${err.message}`);
        });
        loop = run(emit);
      },
      async stop() {
        // What was read but not acknowledged stays pending in the group, and is read again on restart.
        stopping = true;
        client?.disconnect();
        await loop;
      },
      status: () => ({ ...state.status(), ...counts }),
    };
  },
});
