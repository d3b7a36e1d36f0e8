/**
 * The real `evoflow` CLI as child processes (coordinator, workers), with their output
 * captured so tests can wait for a line and show it when something fails.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const BIN = resolve(import.meta.dirname, "../../bin/evoflow.js");

export class CliProcess {
  output = "";
  private readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (c: Buffer) => (this.output += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (this.output += c.toString()));
    this.exited = new Promise((r) => child.once("exit", (code) => r(code)));
  }

  /** Resolves when the output matches; rejects if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(pattern);
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`process exited before ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The pid of the worker proper, from its first line (`evoflow worker` runs it behind a launcher). */
  async workerPid(): Promise<number> {
    return Number((await this.waitFor(/^worker \S+-(\d+)-[0-9a-f]{6} /m))[1]);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export function evoflow(args: string[], env: Record<string, string> = {}): CliProcess {
  return new CliProcess(spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } }));
}

/** Runs the CLI to completion and returns its output and exit code. */
export async function evoflowOnce(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  return { code, stdout, stderr };
}

export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
