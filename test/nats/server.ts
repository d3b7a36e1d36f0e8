/**
 * Real nats-server child processes for tests and benchmarks: one server or a
 * three-server cluster on loopback, JetStream on, file storage in a temp folder.
 * Servers can be stopped (SIGTERM), killed (SIGKILL) and restarted on the same
 * port and storage, which is what the fault tests need.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

const BINARY = process.env.NATS_SERVER ?? "nats-server";

/** A free TCP port on loopback (the OS picks it; closed again before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface NatsServerOptions {
  port?: number;
  storeDir?: string;
  /** Cluster membership: this server's cluster port and the others' routes. */
  cluster?: { name: string; serverName: string; port: number; routes: number[] };
}

export class NatsServer {
  private child?: ChildProcess;
  private output = "";
  readonly storeDir: string;
  private readonly ownsStore: boolean;

  private constructor(readonly port: number, private readonly options: NatsServerOptions) {
    this.ownsStore = options.storeDir === undefined;
    this.storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "evoflow-nats-"));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The server's process id while it runs (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options.port ?? (await freePort()), options);
    await server.restart();
    return server;
  }

  /** Starts (again) on the same port and storage. */
  async restart(): Promise<void> {
    if (this.running) throw new Error("nats-server is already running");
    const args = ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir];
    const cluster = this.options.cluster;
    if (cluster)
      args.push(
        "-n", cluster.serverName,
        "--cluster_name", cluster.name,
        "--cluster", `nats://127.0.0.1:${cluster.port}`,
        "--routes", cluster.routes.map((p) => `nats://127.0.0.1:${p}`).join(","),
      );
    this.output = "";
    const child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        if (this.output.includes("Server is ready")) resolve();
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code, signal) => reject(new Error(`nats-server exited (${code ?? signal}):\n${this.output}`)));
      child.once("error", reject);
    });
    await ready;
  }

  /** Graceful stop (SIGTERM), resolved when the process has exited. */
  stop(): Promise<void> {
    return this.signal("SIGTERM");
  }

  kill(): Promise<void> {
    return this.signal("SIGKILL");
  }

  private signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill(sig);
    });
  }

  /** Stops the server and removes its storage (when the helper made it). */
  async dispose(): Promise<void> {
    await this.kill();
    if (this.ownsStore) rmSync(this.storeDir, { recursive: true, force: true });
  }
}

export class NatsCluster {
  private constructor(readonly servers: NatsServer[]) {}

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** Three (by default) servers routed to each other; resolves once JetStream has a meta leader. */
  static async start(size = 3): Promise<NatsCluster> {
    const clusterPorts = await Promise.all(Array.from({ length: size }, freePort));
    const servers = await Promise.all(
      clusterPorts.map((port, i) =>
        NatsServer.start({ cluster: { name: "evoflow-test", serverName: `s${i}`, port, routes: clusterPorts.filter((p) => p !== port) } }),
      ),
    );
    const cluster = new NatsCluster(servers);
    await cluster.waitForJetStream();
    return cluster;
  }

  private async waitForJetStream(): Promise<void> {
    const nc = await connect({ servers: this.urls });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const jsm = await jetstreamManager(nc);
          await jsm.getAccountInfo();
          return;
        } catch (err) {
          if (attempt > 150) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await nc.close();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
  }
}
