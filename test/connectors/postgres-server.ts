/**
 * A real PostgreSQL (Debian's, version 15) as a child process: initdb into a temp folder, then
 * `postgres` on a free loopback port with its unix socket in that folder, trust authentication
 * for loopback clients. PostgreSQL refuses to run as root, so as root both run as the `postgres`
 * user (setpriv, from util-linux) and the folder is given to it.
 */
import { execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "../nats/server";
import { ChildServer } from "./child-server";

const BIN = process.env.POSTGRES_BIN ?? "/usr/lib/postgresql/15/bin";

/** The command line, run as the postgres user when we are root. */
function asOwner(cmd: string, args: string[]): [string, string[]] {
  if (userInfo().uid !== 0) return [cmd, args];
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
  return ["setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", cmd, ...args]];
}

export class PostgresServer {
  private child?: ChildServer;

  private constructor(readonly port: number, private readonly dir: string) {}

  /** As the superuser `evoflow`, database `evoflow`. */
  get url(): string {
    return `postgres://evoflow@127.0.0.1:${this.port}/evoflow`;
  }

  static async start(): Promise<PostgresServer> {
    // As root, the postgres user must reach the folder: the tests' own temp root is private (0700), /tmp is not.
    const dir = mkdtempSync(join(userInfo().uid === 0 ? "/tmp" : tmpdir(), "evoflow-postgres-"));
    if (userInfo().uid === 0) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"]).toString()), Number(execFileSync("id", ["-g", "postgres"]).toString()));
    const [cmd, args] = asOwner(join(BIN, "initdb"), ["-D", join(dir, "data"), "-U", "evoflow", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
    execFileSync(cmd, args, { stdio: "pipe" });
    const server = new PostgresServer(await freePort(), dir);
    await server.restart();
    const admin = new pg.Client({ connectionString: `postgres://evoflow@127.0.0.1:${server.port}/postgres` });
    await admin.connect();
    await admin.query("create database evoflow");
    await admin.end();
    return server;
  }

  async restart(): Promise<void> {
    const [cmd, args] = asOwner(join(BIN, "postgres"), ["-D", join(this.dir, "data"), "-p", String(this.port), "-k", this.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]);
    const probe = async () => {
      const client = new pg.Client({ connectionString: `postgres://evoflow@127.0.0.1:${this.port}/postgres` });
      const ok = await client.connect().then(() => true, () => false);
      await client.end().catch(() => {});
      return ok;
    };
    this.child = await ChildServer.start(`postgres on ${this.port}`, cmd, args, probe, 20_000);
  }

  /** Runs SQL as the superuser. */
  async sql<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** SIGINT: a fast shutdown. */
  async stop(): Promise<void> {
    await this.child?.stop("SIGINT");
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
