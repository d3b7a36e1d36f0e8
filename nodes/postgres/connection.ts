/** What the PostgreSQL source and sink share: the server, its credentials, a table's name and quoting. */
import type pg from "pg";
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { ConnectionState, passwordFields, readPassword, serverUrl, type PasswordConfig } from "../connectors/shared";

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, "a plain SQL identifier (letters, digits, _ and $)");

export const serverFields = {
  url: serverUrl("postgres(ql)?", "a postgres:// URL", "postgres://evoflow@127.0.0.1:5432/sensors"),
  ...passwordFields,
  schema: identifier.default("public"),
  table: identifier.describe("The table"),
};
export { identifier };

export interface ServerConfig extends PasswordConfig {
  url: string;
}

export const quote = (name: string) => `"${name}"`;

/** A small pool (it reconnects by opening new connections), reporting into `state`. */
export async function connectPostgres(ctx: NodeContext, cfg: ServerConfig, state: ConnectionState, max = 2): Promise<pg.Pool> {
  // The client library loads when a node of this kind starts: every runtime and worker holds the node types, few use each broker.
  const { default: { Pool } } = await import("pg");
  const pool = new Pool({ connectionString: cfg.url, password: await readPassword(ctx, cfg), max, connectionTimeoutMillis: 10_000 });
  // An idle connection's error is the server gone (a restart): the pool opens new ones on demand.
  pool.on("error", (err) => state.down(err));
  pool.on("connect", () => state.up());
  // A database that cannot be reached at deploy refuses the deploy, with the reason.
  await pool.query("select 1").catch(async (err: Error) => {
    await pool.end();
    throw new Error(`postgres ${redact(cfg.url)}: ${err.message}`);
  });
  return pool;
}

/** Whether `err` is the link to the server lost (a connection exception, the server shutting down, a socket error) rather than a refused statement. */
export function lostConnection(err: unknown): boolean {
  const code = String((err as { code?: string }).code ?? "");
  return /^(08|57P)/.test(code) || /^E[A-Z]+$/.test(code) || /Connection terminated|timeout exceeded when trying to connect/i.test((err as Error).message ?? "");
}

/** The URL without a password someone put in it anyway. */
export const redact = (url: string) => url.replace(/(\/\/[^:/@]+):[^@]*@/, "$1:***@");

/** The table's columns and their SQL types, from information_schema. */
export async function tableColumns(pool: pg.Pool, schema: string, table: string): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ column_name: string; data_type: string }>(
    "select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = $2",
    [schema, table],
  );
  if (rows.length === 0) throw new Error(`postgres table ${schema}.${table} does not exist (or this user cannot see it)`);
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}
