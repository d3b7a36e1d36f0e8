/**
 * What every connector does the same way: its password from a secret reference or a file in the
 * pipeline's data folder (so it stays out of the pipeline JSON kept in Git), its URL without one, turning received bytes into a
 * payload by the declared format, and reporting connected / reconnecting with the last error.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { configPath, configSecret, type NodeContext } from "../../sdk";

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

export const formatField = z.enum(["json", "text", "bytes"]);
export type Format = z.output<typeof formatField>;

export async function readPassword(ctx: NodeContext, cfg: PasswordConfig): Promise<string | undefined> {
  if (cfg.password) return ctx.secret(cfg.password);
  return cfg.passwordFile ? (await readFile(await ctx.resolvePath(cfg.passwordFile, { mustExist: true }), "utf8")).trim() : undefined;
}

export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

/** Bytes as the payload `format` asks for; `where` names the message in the dead letter's reason. */
export function decode(bytes: Uint8Array, format: Format, where: string): Decoded {
  if (format === "bytes") return { ok: true, value: new Uint8Array(bytes) };
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  if (format === "text") return { ok: true, value: text };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `${where} is not JSON (${(err as Error).message}): ${JSON.stringify(text.slice(0, 200))}` };
  }
}

/** A payload as bytes on the wire: JSON unless it is text or bytes already and `format` says so. */
export function encode(payload: unknown, format: Format): Buffer {
  if (format === "text") return Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
  if (format === "bytes" && payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return Buffer.from(JSON.stringify(payload));
}

/** The connection half of a connector's status: connected, how often it reconnected, the last error. */
export class ConnectionState {
  connected = false;
  reconnects = 0;
  private lastError?: string;

  constructor(private readonly ctx: NodeContext, private readonly what: string) {}

  up(): void {
    this.connected = true;
    this.lastError = undefined;
  }
  down(): void {
    this.connected = false;
  }
  reconnecting(): void {
    this.connected = false;
    this.reconnects++;
  }
  error(err: Error): void {
    this.lastError = err.message;
    this.ctx.log("warn", `${this.what}: ${err.message}`);
  }
  status(): Record<string, unknown> {
    return { connected: this.connected, reconnects: this.reconnects, ...(this.lastError && { error: this.lastError }) };
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
