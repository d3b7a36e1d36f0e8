/**
 * What the broker sources (NATS, AMQP) share beyond nodes/connectors/shared.ts: the decode and
 * encode options with their defaults, the source's status, and the step "decode, then hand on or
 * dead-letter" after which a source may acknowledge.
 */
import { z } from "zod";
import type { NodeContext } from "../../sdk";
import { decode, formatField } from "./shared";

export const decodeField = formatField
  .default("json")
  .describe("How a message's bytes become the payload: parsed JSON (not JSON → a dead letter), a string, or a Uint8Array");

export const encodeField = formatField.default("json").describe("JSON text, the string as it is, or a Uint8Array's bytes");

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
