/**
 * A real redis-server (Debian's) as a child process on a free loopback port, its append-only file
 * in a temp folder so a restart keeps the streams, their groups and pending entries.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../nats/server";

const BINARY = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";

export class RedisServer {
  private child?: ChildProcess;
  private output = "";

  private constructor(readonly port: number, private readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), "evoflow-redis-")));
    await server.restart();
    return server;
  }

  /** Starts (again) on the same port and data folder. */
  async restart(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"];
    this.child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.output += d));
    this.child.stderr!.on("data", (d) => (this.output += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on("error", () => {});
      const ok = await probe.connect().then(() => probe.ping().then(() => true), () => false);
      probe.disconnect();
      if (ok) return;
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${this.port}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  client(): Redis {
    return new Redis(this.url);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
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
