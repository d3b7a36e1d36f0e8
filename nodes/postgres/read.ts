import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import { z } from "zod";
import { defineNode, port, type Emit } from "../../sdk";
import { replaceFile } from "../../sdk/replace-file";
import { metrics } from "../services";
import { ConnectionState, readPassword } from "../connectors/shared";
import { connectPostgres, identifier, lostConnection, quote, redact, serverFields, tableColumns } from "./connection";

const config = z.object({
  ...serverFields,
  key: identifier.describe("A column whose value grows with each new row (a serial id, an insertion time): rows are read in its order, after the last one handed on"),
  columns: z.array(identifier).min(1).optional().describe("The columns each row carries; all of them by default"),
  batchSize: z.number().int().min(1).max(10_000).default(100).describe("Rows per query"),
  pollMs: z.number().int().min(50).max(3_600_000).default(1000).describe("How often to look for new rows when the last query found none"),
  notifyChannel: identifier.optional().describe("LISTEN on this channel too: a NOTIFY (from a trigger on the table) wakes the reader at once instead of at the next poll"),
});

/** The last key handed on, kept in the node's data folder so a restart goes on after it. */
class Position {
  constructor(private readonly file: string) {}
  async load(): Promise<unknown> {
    try {
      return (JSON.parse(await readFile(this.file, "utf8")) as { after: unknown }).after;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`postgres reader position ${this.file}: ${(err as Error).message}`);
    }
  }
  private async save(after: unknown): Promise<void> {
    await replaceFile(this.file, JSON.stringify({ after }));
  }

  private pending?: { after: unknown };
  private writing?: Promise<void>;
  /**
   * Saves `after` while the next batch is read: a write and rename took longer than the query
   * here (5 ms against 1 ms on a busy disk) and held the reader up. Writes stay in order, and of
   * the keys waiting only the newest is written; a crash meanwhile reads those rows again.
   */
  saveSoon(after: unknown, failed: (err: Error) => void): void {
    this.pending = { after };
    this.writing ??= (async () => {
      while (this.pending) {
        const next = this.pending.after;
        this.pending = undefined;
        await this.save(next).catch(failed);
      }
      this.writing = undefined;
    })();
  }
  async saved(): Promise<void> {
    await this.writing;
  }
}

/** A row as a payload: dates as ISO text, so it reads the same through JSON. pg makes a fresh object per row, changed in place. */
function payloadOf(row: Record<string, unknown>): Record<string, unknown> {
  for (const k in row) if (row[k] instanceof Date) row[k] = (row[k] as Date).toISOString();
  return row;
}

export default defineNode({
  type: "postgres.read",
  category: "connectors",
  title: "PostgreSQL read",
  description:
    "Reads the new rows of a table in the order of an increasing `key` column and emits each as a record. At least once: the last key handed on is saved in the node's data folder after the first edge accepted the row, so a restart goes on after it (a row handed on just before a crash may come again); a full `block` edge stops the reading. Polls every `pollMs`; with `notifyChannel` a NOTIFY wakes it at once.",
  capabilities: ["network"],
  services: [metrics],
  inputs: {},
  outputs: { out: port.any() },
  config,
  create: (ctx, cfg) => {
    const state = new ConnectionState(ctx, `postgres ${redact(cfg.url)}`);
    const counts = { emitted: 0, notifications: 0 };
    const position = new Position(join(ctx.dataDir, "position.json"));
    let pool: pg.Pool | undefined;
    let listener: pg.Client | undefined;
    let after: unknown;
    let stopping = false;
    let wake: (() => void) | undefined;
    let loop: Promise<void> | undefined;
    const select = `select ${cfg.columns?.map(quote).join(", ") ?? "*"} from ${quote(cfg.schema)}.${quote(cfg.table)}`;
    const sleep = (ms: number) =>
      new Promise<void>((r) => {
        if (stopping) return r();
        const timer = setTimeout(r, ms);
        wake = () => (clearTimeout(timer), r());
      });

    async function listen(): Promise<void> {
      if (!cfg.notifyChannel || stopping) return;
      const { default: { Client } } = await import("pg"); // as in connection.ts
      listener = new Client({ connectionString: cfg.url, password: await readPassword(ctx, cfg) });
      listener.on("notification", () => (counts.notifications++, wake?.()));
      listener.on("error", (err) => {
        state.error(err);
        listener = undefined;
        // Polling goes on meanwhile; the wake-up comes back with the connection.
        setTimeout(() => void listen().catch((e: Error) => state.error(e)), 1000);
      });
      await listener.connect();
      await listener.query(`listen ${quote(cfg.notifyChannel)}`);
    }

    async function run(emit: Emit): Promise<void> {
      while (!stopping) {
        let found = 0;
        try {
          const { rows } = await pool!.query<Record<string, unknown>>(
            after === undefined ? `${select} order by ${quote(cfg.key)} limit $1` : `${select} where ${quote(cfg.key)} > $2 order by ${quote(cfg.key)} limit $1`,
            after === undefined ? [cfg.batchSize] : [cfg.batchSize, after],
          );
          state.up();
          for (const row of rows) {
            if (stopping) return;
            const payload = payloadOf(row);
            await emit("out", payload).catch((err: Error) => ctx.log("warn", `postgres row ${String(payload[cfg.key])}: ${err.message}`));
            counts.emitted++;
            after = payload[cfg.key];
            found++;
          }
          if (found) position.saveSoon(after, (err) => state.error(new Error(`postgres reader position: ${err.message}`)));
        } catch (err) {
          if (stopping) return;
          if (lostConnection(err)) state.down(err as Error);
          else state.error(err as Error);
        }
        if (found < cfg.batchSize) await sleep(cfg.pollMs);
      }
    }

    return {
      async start(emit) {
        await mkdir(ctx.dataDir, { recursive: true });
        pool = await connectPostgres(ctx, cfg, state);
        const table = await tableColumns(pool, cfg.schema, cfg.table);
        if (!table.has(cfg.key)) throw new Error(`$.config.key: table ${cfg.schema}.${cfg.table} has no column "${cfg.key}"`);
        cfg.columns?.forEach((c, i) => {
          if (!table.has(c)) throw new Error(`$.config.columns[${i}]: table ${cfg.schema}.${cfg.table} has no column "${c}"`);
        });
        if (cfg.columns && !cfg.columns.includes(cfg.key)) throw new Error(`$.config.columns: must include the key column "${cfg.key}"`);
        after = await position.load();
        await listen();
        loop = run(emit);
      },
      async stop() {
        stopping = true;
        wake?.();
        await listener?.end().catch(() => {});
        await loop;
        await position.saved();
        await pool?.end();
      },
      status: () => ({ ...state.status(), ...counts, ...(after !== undefined && { after }) }),
    };
  },
});
