/**
 * A real redis-server (Debian's) as a child process on a free loopback port, its append-only file
 * in a temp folder so a restart keeps the streams, their groups and pending entries.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../nats/server";
import { ChildServer } from "./child-server";

const BINARY = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";

export class RedisServer {
  private child?: ChildServer;

  private constructor(readonly port: number, private readonly dir: string, private readonly fsync: "always" | "everysec") {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `fsync: "always"` (the default) so a SIGKILLed server keeps every acknowledged write; benchmarks take "everysec". */
  static async start(fsync: "always" | "everysec" = "always"): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), "evoflow-redis-")), fsync);
    await server.restart();
    return server;
  }

  /** Starts (again) on the same port and data folder. */
  async restart(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--appendfsync", this.fsync, "--save", "", "--daemonize", "no"];
    this.child = await ChildServer.start(`redis-server on ${this.port}`, BINARY, args, async () => {
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on("error", () => {});
      const ok = await probe.connect().then(() => probe.ping().then(() => true), () => false);
      probe.disconnect();
      return ok;
    });
  }

  client(): Redis {
    return new Redis(this.url);
  }

  async stop(): Promise<void> {
    await this.child?.stop("SIGTERM");
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
