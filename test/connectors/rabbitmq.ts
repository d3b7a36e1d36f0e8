/**
 * A real RabbitMQ (Debian's rabbitmq-server 3.10) as a child process on free loopback ports,
 * its node name unique and its database and logs in a temp folder, no plugins. It takes a few
 * seconds to start: a test file shares one.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../nats/server";

const BINARY = process.env.RABBITMQ_SERVER ?? "/usr/lib/rabbitmq/bin/rabbitmq-server";

export class RabbitMQ {
  private child?: ChildProcess;
  private output = "";

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
    this.child = spawn(BINARY, [], { env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.output += d));
    this.child.stderr!.on("data", (d) => (this.output += d));
    const deadline = Date.now() + 60_000;
    while (!(await this.accepts())) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`rabbitmq-server did not start on ${this.port}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = netConnect(this.port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null)
      await new Promise((r) => {
        child.once("exit", r);
        child.kill("SIGTERM");
      });
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
