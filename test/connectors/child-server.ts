/** A server the tests run as a child process: started until it answers, its output kept for the error, stopped by a signal. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";

/** Whether something accepts TCP connections on 127.0.0.1:`port` (a server's readiness, where it has no better probe). */
export function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

export class ChildServer {
  private output = "";
  private constructor(private readonly child: ChildProcess) {}

  /** Spawns `cmd` and waits (up to `timeoutMs`) until `ready()` says it answers. */
  static async start(name: string, cmd: string, args: string[], ready: () => Promise<boolean>, timeoutMs = 10_000, env?: NodeJS.ProcessEnv): Promise<ChildServer> {
    const server = new ChildServer(spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] }));
    server.child.stdout!.on("data", (d) => (server.output += d));
    server.child.stderr!.on("data", (d) => (server.output += d));
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (server.child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start:\n${server.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return server;
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null) return;
    await new Promise((r) => {
      this.child.once("exit", r);
      this.child.kill(signal);
    });
  }
}
