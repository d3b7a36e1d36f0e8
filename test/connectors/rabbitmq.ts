/**
 * A real RabbitMQ (Debian's rabbitmq-server 3.10) as a child process on free loopback ports,
 * its node name unique and its database and logs in a temp folder, no plugins. It takes a few
 * seconds to start: a test file shares one.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../nats/server";
import { acceptsTcp, ChildServer } from "./child-server";

const BINARY = process.env.RABBITMQ_SERVER ?? "/usr/lib/rabbitmq/bin/rabbitmq-server";

export class RabbitMQ {
  private child?: ChildServer;

  private constructor(readonly port: number, private readonly distPort: number, private readonly dir: string) {}

  get url(): string {
    return `amqp://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RabbitMQ> {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-rabbitmq-"));
    writeFileSync(join(dir, "enabled_plugins"), "[].\n");
    const server = new RabbitMQ(await freePort(), await freePort(), dir);
    await server.restart();
    return server;
  }

  /** Starts (again) with the same ports, node name and database. */
  async restart(): Promise<void> {
    const dir = this.dir;
    const env = {
      ...process.env,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODENAME: `evoflow-${process.pid}-${this.port}@localhost`,
      RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    };
    this.child = await ChildServer.start(`rabbitmq-server on ${this.port}`, BINARY, [], () => acceptsTcp(this.port), 60_000, env);
  }

  async stop(): Promise<void> {
    await this.child?.stop("SIGTERM");
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
