import type pg from "pg";
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { metrics } from "../services";
import { ConnectionState, withRetries } from "../connectors/shared";
import { connectPostgres, identifier, lostConnection, quote, redact, serverFields, tableColumns } from "./connection";

/** A declared column type, the SQL types it may be stored in, and the JS values it takes. */
const TYPES = {
  text: { sql: ["text", "character varying", "character", "uuid"], ok: (v: unknown) => typeof v === "string" },
  integer: { sql: ["smallint", "integer", "bigint", "numeric"], ok: (v: unknown) => Number.isInteger(v) },
  number: { sql: ["real", "double precision", "numeric"], ok: (v: unknown) => typeof v === "number" && Number.isFinite(v) },
  boolean: { sql: ["boolean"], ok: (v: unknown) => typeof v === "boolean" },
  json: { sql: ["json", "jsonb"], ok: () => true },
  timestamp: { sql: ["timestamp with time zone", "timestamp without time zone", "date"], ok: (v: unknown) => typeof v === "string" || typeof v === "number" },
} as const;

const column = z.object({
  from: z.string().min(1).max(512).optional().describe("The payload field, dotted for nested ones (reading.temp); defaults to the column's name"),
  type: z.enum(Object.keys(TYPES) as [keyof typeof TYPES, ...(keyof typeof TYPES)[]]).describe("What the payload holds there; checked at deploy against the table's column type"),
  nullable: z.boolean().default(false).describe("A missing or null value is stored as NULL instead of dead-lettering the message"),
});

const config = z.object({
  ...serverFields,
  columns: z.record(identifier, column).refine((c) => Object.keys(c).length > 0, "at least one column").describe("Table column → where its value is in the payload and its type"),
  conflict: z
    .object({ on: z.array(identifier).min(1).describe("The unique key (an idempotency key: a message delivered twice is stored once)"), update: z.boolean().default(true).describe("Update the other columns (upsert), or leave the existing row") })
    .optional(),
  batchSize: z.number().int().min(1).max(10_000).default(100).describe("Rows per INSERT; give the edge into it queue.concurrency as large to fill batches"),
  batchMs: z.number().int().min(0).max(10_000).default(5).describe("How long a batch waits for more rows"),
  retries: z.number().int().min(0).max(100).default(6).describe("Further attempts after a failed INSERT (the connection lost), waiting backoffMs, then twice that, … (the default rides out about 12 s, a server restart); then the rows go to the dead letters"),
  backoffMs: z.number().int().min(1).max(60_000).default(200),
});
type Config = z.output<typeof config>;

/** A column's place in the payload and its check, worked out once: rows are made per message. */
interface ColumnPlan {
  name: string;
  at: string;
  keys: string[];
  nullable: boolean;
  type: keyof typeof TYPES;
  ok: (v: unknown) => boolean;
}
const plan = (cfg: Config): ColumnPlan[] =>
  Object.entries(cfg.columns).map(([name, col]) => ({ name, at: col.from ?? name, keys: (col.from ?? name).split("."), nullable: col.nullable, type: col.type, ok: TYPES[col.type].ok }));

function valueAt(payload: unknown, keys: string[]): unknown {
  let v = payload;
  for (const k of keys) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** One row's values in column order, or why the payload does not fit. */
function rowOf(columns: ColumnPlan[], payload: unknown): unknown[] {
  const row = new Array<unknown>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const col = columns[i];
    const v = valueAt(payload, col.keys);
    if (v === undefined || v === null) {
      if (col.nullable) {
        row[i] = null;
        continue;
      }
      throw new Error(`column "${col.name}": the payload has no value at $.${col.at}`);
    }
    if (!col.ok(v)) throw new Error(`column "${col.name}": $.${col.at} is ${JSON.stringify(v)?.slice(0, 100)}, not ${col.type}`);
    row[i] = col.type === "json" ? JSON.stringify(v) : v;
  }
  return row;
}

/** Data errors (SQLSTATE class 22, 23): retrying the same rows cannot help. */
const isDataError = (err: unknown) => /^2[23]/.test(String((err as { code?: string }).code ?? ""));

export default defineNode({
  type: "postgres.insert",
  category: "connectors",
  title: "PostgreSQL insert",
  description:
    "Inserts each message as a row of a table, columns mapped from the payload, in batched multi-row INSERTs; with `conflict` an upsert (ON CONFLICT … DO UPDATE / DO NOTHING) so a message delivered twice is stored once. At deploy each column's declared type is checked against the table (information_schema). A message is handled once its batch is committed; a lost connection is retried with backoff, then the rows are dead-lettered; a row the database refuses is dead-lettered alone, with its error.",
  capabilities: ["network"],
  services: [metrics],
  inputs: { in: port.any() },
  outputs: {},
  config,
  create: (ctx, cfg) => {
    const state = new ConnectionState(ctx, `postgres ${redact(cfg.url)}`);
    const columns = plan(cfg);
    const names = columns.map((c) => c.name);
    let pool: pg.Pool | undefined;
    let inserted = 0;
    let batch: { row: unknown[]; done: (err?: Error) => void }[] = [];
    let timer: NodeJS.Timeout | undefined;

    // A full batch's text is the common one: made once (other sizes are made when needed).
    let fullBatch: string | undefined;
    const sql = (rows: number) => (rows === cfg.batchSize ? (fullBatch ??= sqlFor(rows)) : sqlFor(rows));
    const sqlFor = (rows: number) => {
      const values = Array.from({ length: rows }, (_, r) => `(${names.map((_, c) => `$${r * names.length + c + 1}`).join(", ")})`);
      const target = `${quote(cfg.schema)}.${quote(cfg.table)}`;
      let text = `insert into ${target} (${names.map(quote).join(", ")}) values ${values.join(", ")}`;
      if (cfg.conflict) {
        const rest = names.filter((n) => !cfg.conflict!.on.includes(n));
        const update = cfg.conflict.update && rest.length ? `do update set ${rest.map((n) => `${quote(n)} = excluded.${quote(n)}`).join(", ")}` : "do nothing";
        text += ` on conflict (${cfg.conflict.on.map(quote).join(", ")}) ${update}`;
      }
      return text;
    };
    /** A query whose lost connection shows in the status (the pool opens a new one for the next). */
    const query = (text: string, values: unknown[]) =>
      pool!.query(text, values).catch((err: Error) => {
        if (lostConnection(err)) state.down(err);
        throw err;
      });
    /** One row, a lost connection retried with backoff; a row the database refuses fails at once. */
    const insertOne = (row: unknown[]) => withRetries(cfg.retries, cfg.backoffMs, ctx.signal, () => query(sql(1), row), (err) => !isDataError(err));

    async function flush(): Promise<void> {
      timer = undefined;
      const rows = batch;
      batch = [];
      try {
        const values: unknown[] = [];
        for (const r of rows) for (const v of r.row) values.push(v);
        await query(sql(rows.length), values);
        inserted += rows.length;
        for (const r of rows) r.done();
        return;
      } catch {
        // One by one, so only the row at fault is dead-lettered.
      }
      for (const r of rows) {
        await insertOne(r.row).then(
          () => (inserted++, r.done()),
          (err: Error) => r.done(new Error(`postgres insert into ${cfg.schema}.${cfg.table}: ${err.message}`)),
        );
      }
    }

    return {
      async start() {
        pool = await connectPostgres(ctx, cfg, state, 4);
        const table = await tableColumns(pool, cfg.schema, cfg.table);
        for (const [name, col] of Object.entries(cfg.columns)) {
          const sqlType = table.get(name);
          const at = `$.config.columns.${name}`;
          if (!sqlType) throw new Error(`${at}: table ${cfg.schema}.${cfg.table} has no column "${name}" (it has ${[...table.keys()].join(", ")})`);
          if (!(TYPES[col.type].sql as readonly string[]).includes(sqlType)) throw new Error(`${at}: column "${name}" of ${cfg.schema}.${cfg.table} is ${sqlType}, which does not hold ${col.type} (use ${Object.entries(TYPES).filter(([, t]) => (t.sql as readonly string[]).includes(sqlType)).map(([k]) => k).join(" or ") || "another column"})`);
        }
      },
      onMessage(_port, message) {
        const row = rowOf(columns, message.payload);
        return new Promise<void>((resolve, reject) => {
          batch.push({ row, done: (err) => (err ? reject(err) : resolve()) });
          if (batch.length >= cfg.batchSize) {
            clearTimeout(timer);
            void flush();
          } else timer ??= setTimeout(() => void flush(), cfg.batchMs);
        });
      },
      async stop() {
        clearTimeout(timer);
        if (batch.length) await flush();
        await pool?.end();
      },
      status: () => ({ ...state.status(), inserted }),
    };
  },
});
