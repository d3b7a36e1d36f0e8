/**
 * What every broker connector shares (MQTT, NATS, AMQP): how a message's bytes become a payload
 * and back, and a password read from a file in the pipeline's data folder, so neither the
 * decoding rules nor the secret handling are written once per broker.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { configPath, type NodeContext } from "../../sdk";

export const decodeField = z
  .enum(["json", "text", "bytes"])
  .default("json")
  .describe("How a message's bytes become the payload: parsed JSON (not JSON → a dead letter), a string, or a Uint8Array");

export const encodeField = z.enum(["json", "text", "bytes"]).default("json").describe("JSON text, the string as it is, or a Uint8Array's bytes");

export const passwordFileField = configPath({ kind: "file", describe: "A file in the pipeline's data folder holding the password (kept out of the pipeline JSON)" }).optional();

export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

/** `where` names the message in the reason a dead letter carries ("nats message on orders.new"). */
export function decode(bytes: Uint8Array, format: "json" | "text" | "bytes", where: string): Decoded {
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
export function encode(payload: unknown, format: "json" | "text" | "bytes"): Buffer {
  if (format === "text") return Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
  if (format === "bytes" && payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return Buffer.from(JSON.stringify(payload));
}

export async function readPassword(ctx: NodeContext, passwordFile: string | undefined): Promise<string | undefined> {
  return passwordFile ? (await readFile(await ctx.resolvePath(passwordFile, { mustExist: true }), "utf8")).trim() : undefined;
}

/** What a source shows as its status: the link to its broker and what went through it. */
export class SourceStatus {
  connected = false;
  readonly counts = { received: 0, emitted: 0, deadLetters: 0, reconnects: 0 };
  private lastError?: string;

  up(): void {
    this.connected = true;
    this.lastError = undefined;
  }

  down(error?: string): void {
    this.connected = false;
    if (error) this.lastError = error;
  }

  failed(error: string): void {
    this.lastError = error;
  }

  snapshot(): Record<string, unknown> {
    return { connected: this.connected, ...this.counts, ...(this.lastError && { error: this.lastError }) };
  }
}

/**
 * Decodes one message and hands it to the first edge, or to the dead letters when it cannot be
 * read; resolves once either took it, which is when the source may acknowledge it. A failure
 * downstream was dead-lettered there: the message was handed off all the same.
 */
export async function handOff(
  ctx: NodeContext,
  emit: (port: string, payload: unknown) => Promise<unknown>,
  status: SourceStatus,
  message: { bytes: Uint8Array; format: "json" | "text" | "bytes"; where: string; wrap?: (value: unknown) => unknown },
): Promise<void> {
  status.counts.received++;
  const read = decode(message.bytes, message.format, message.where);
  try {
    if (read.ok) {
      await emit("out", message.wrap ? message.wrap(read.value) : read.value);
      status.counts.emitted++;
    } else {
      await ctx.deadLetter(new Uint8Array(message.bytes), read.reason);
      status.counts.deadLetters++;
    }
  } catch (err) {
    ctx.log("warn", `${message.where}: ${(err as Error).message}`);
  }
}
