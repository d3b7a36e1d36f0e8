/**
 * What every connector does the same way: its password from a secret reference or a file in the
 * pipeline's data folder (so it stays out of the pipeline JSON kept in Git), its URL without one,
 * reporting connected / reconnecting with the last error. Message formats are in ./formats.ts.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { configPath, configSecret, type NodeContext, type NodeCounter } from "../../sdk";
import { metrics } from "../services";

/** A connector's password, never in the pipeline JSON: a secret reference, or a file in the pipeline's data folder. */
export const passwordFields = {
  password: configSecret({ describe: "The password, from the secret store or the environment" }).optional(),
  passwordFile: configPath({ kind: "file", describe: "A file in the pipeline's data folder holding the password (kept out of the pipeline JSON)" }).optional(),
};
export interface PasswordConfig {
  password?: string;
  passwordFile?: string;
}

/** A server URL (`scheme` e.g. "rediss?") with no password in it: a URL is shown and exported as it is. */
export const serverUrl = (scheme: string, what: string, example: string) =>
  z
    .string()
    .max(2048)
    .regex(new RegExp(`^${scheme}:\\/\\/[^\\s]+$`), what)
    .refine((u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(u), 'a URL must not carry a password: give it as password, "${secret:NAME}"')
    .describe(`The server, e.g. ${example} (no password in it: use password or passwordFile)`);

export async function readPassword(ctx: NodeContext, cfg: PasswordConfig): Promise<string | undefined> {
  if (cfg.password) return ctx.secret(cfg.password);
  return cfg.passwordFile ? (await readFile(await ctx.resolvePath(cfg.passwordFile, { mustExist: true }), "utf8")).trim() : undefined;
}

/**
 * A connector's link to its server as its status shows it: connecting (never up yet), connected,
 * or reconnecting (lost, the client trying again), with the last error. Each time the link comes
 * back after a loss counts as a reconnect, in the status and in `/metrics`
 * (evoflow_connector_reconnects_total{pipeline, node}).
 */
export class ConnectionState {
  private state: "connecting" | "connected" | "reconnecting" = "connecting";
  private reconnects = 0;
  private lastError?: string;
  private readonly reconnectCounter: NodeCounter;

  constructor(private readonly ctx: NodeContext, private readonly what: string) {
    this.reconnectCounter = ctx.service(metrics).counter("connector_reconnects", "Times a connector's link to its broker or database came back after it was lost");
  }

  up(): void {
    if (this.state === "connected") return;
    if (this.state === "reconnecting") {
      this.reconnects++;
      this.reconnectCounter.inc({ pipeline: this.ctx.pipeline, node: this.ctx.nodeId });
    }
    this.state = "connected";
  }

  /** The link is lost (or an attempt failed); a link never up stays "connecting". */
  down(err?: Error | string): void {
    if (this.state === "connected") this.state = "reconnecting";
    if (err) this.error(err);
  }

  /** An error that may not have cost the link (a failed command, a refused message): shown and logged. */
  error(err: Error | string): void {
    this.lastError = typeof err === "string" ? err : err.message;
    this.ctx.log("warn", `${this.what}: ${this.lastError}`);
  }

  status(): Record<string, unknown> {
    return { connection: this.state, reconnects: this.reconnects, ...(this.lastError && { lastError: this.lastError }) };
  }
}

/** Runs `attempt` up to `retries` more times after a failure, waiting `backoffMs`, then twice that, …; the last error is thrown (and the message dead-lettered with it). */
export async function withRetries<T>(retries: number, backoffMs: number, signal: AbortSignal, attempt: () => Promise<T>, retryable: (err: unknown) => boolean = () => true): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= retries || signal.aborted || !retryable(err)) throw new Error(`${(err as Error).message} (after ${i + 1} attempt${i ? "s" : ""})`);
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** i));
    }
  }
}
