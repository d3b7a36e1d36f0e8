/**
 * A real mosquitto broker (Debian's) as a child process on a free loopback port, anonymous
 * clients allowed (or only `users`, by password), persistence in a temp folder so a restart
 * keeps sessions and queued messages.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../nats/server";

const BINARY = process.env.MOSQUITTO ?? "/usr/sbin/mosquitto";

export class Mosquitto {
  private child?: ChildProcess;
  private output = "";

  private constructor(readonly port: number, private readonly dir: string, private readonly users?: Record<string, string>) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async start(options: { users?: Record<string, string> } = {}): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-mosquitto-"));
    const broker = new Mosquitto(await freePort(), dir, options.users);
    await broker.restart();
    return broker;
  }

  /** Starts (again) on the same port and persistence folder. */
  async restart(): Promise<void> {
    const conf = join(this.dir, "mosquitto.conf");
    // Started as root, mosquitto drops to its own user, which cannot enter this 0700 temp folder:
    // it stays who started it ("user" has no effect for anyone else).
    const access = ["user root", "allow_anonymous true"];
    if (this.users) {
      const passwords = join(this.dir, "passwords");
      writeFileSync(passwords, "", { mode: 0o600 });
      for (const [user, password] of Object.entries(this.users)) execFileSync("mosquitto_passwd", ["-b", passwords, user, password]);
      access.splice(1, 1, "allow_anonymous false", `password_file ${passwords}`);
    }
    writeFileSync(conf, [`listener ${this.port} 127.0.0.1`, ...access, "persistence true", `persistence_location ${this.dir}/`, "autosave_interval 1", ""].join("\n"));
    this.child = spawn(BINARY, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.output += d));
    this.child.stderr!.on("data", (d) => (this.output += d));
    const deadline = Date.now() + 10_000;
    while (!(await this.accepts())) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start on ${this.port}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = netConnect(this.port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
  }

  /** SIGTERM: mosquitto saves its persistence file on the way out. */
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
