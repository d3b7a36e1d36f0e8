/**
 * A real mosquitto broker (Debian's) as a child process on a free loopback port, anonymous
 * clients allowed (or only `users`, by password), persistence in a temp folder so a restart
 * keeps sessions and queued messages.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../nats/server";
import { acceptsTcp, ChildServer } from "./child-server";

const BINARY = process.env.MOSQUITTO ?? "/usr/sbin/mosquitto";

export interface MosquittoOptions {
  /** Only these clients, by password (else anonymous ones too). */
  users?: Record<string, string>;
  /** Seconds between the broker's $SYS updates (its own figures, e.g. messages stored); mosquitto's default is 10. */
  sysInterval?: number;
  /** QoS 1/2 messages the broker queues per client session (mosquitto's default 1000, beyond which it drops); 0: no limit. */
  maxQueuedMessages?: number;
}

export class Mosquitto {
  private child?: ChildServer;

  private constructor(readonly port: number, private readonly dir: string, private readonly options: MosquittoOptions) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-mosquitto-"));
    const broker = new Mosquitto(await freePort(), dir, options);
    await broker.restart();
    return broker;
  }

  /** Starts (again) on the same port and persistence folder. */
  async restart(): Promise<void> {
    const conf = join(this.dir, "mosquitto.conf");
    // Started as root, mosquitto drops to its own user, which cannot enter this 0700 temp folder:
    // it stays who started it ("user" has no effect for anyone else).
    const access = ["user root", "allow_anonymous true"];
    const users = this.options.users;
    if (users) {
      const passwords = join(this.dir, "passwords");
      writeFileSync(passwords, "", { mode: 0o600 });
      for (const [user, password] of Object.entries(users)) execFileSync("mosquitto_passwd", ["-b", passwords, user, password]);
      access.splice(1, 1, "allow_anonymous false", `password_file ${passwords}`);
    }
    writeFileSync(conf, [`listener ${this.port} 127.0.0.1`, ...access, "persistence true", `persistence_location ${this.dir}/`, "autosave_interval 1", ...(this.options.sysInterval ? [`sys_interval ${this.options.sysInterval}`] : []), ...(this.options.maxQueuedMessages !== undefined ? [`max_queued_messages ${this.options.maxQueuedMessages}`] : []), ""].join("\n"));
    this.child = await ChildServer.start(`mosquitto on ${this.port}`, BINARY, ["-c", conf], () => acceptsTcp(this.port));
  }

  /** SIGTERM: mosquitto saves its persistence file on the way out. */
  async stop(): Promise<void> {
    await this.child?.stop("SIGTERM");
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
