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

/** What went through a source, beside its ConnectionState in its status. */
export interface SourceCounts {
  received: number;
  emitted: number;
  deadLetters: number;
}

/**
 * Decodes one message and hands it to the first edge, or to the dead letters when it cannot be
 * read; resolves once either took it, which is when the source may acknowledge it. A failure
 * downstream was dead-lettered there: the message was handed off all the same.
 */
export async function handOff(
  ctx: NodeContext,
  emit: (port: string, payload: unknown) => Promise<unknown>,
  counts: SourceCounts,
  message: { bytes: Uint8Array; format: "json" | "text" | "bytes"; where: string; wrap?: (value: unknown) => unknown },
): Promise<void> {
  counts.received++;
  const read = decode(message.bytes, message.format, message.where);
  try {
    if (read.ok) {
      await emit("out", message.wrap ? message.wrap(read.value) : read.value);
      counts.emitted++;
    } else {
      await ctx.deadLetter(new Uint8Array(message.bytes), read.reason);
      counts.deadLetters++;
    }
  } catch (err) {
    ctx.log("warn", `${message.where}: ${(err as Error).message}`);
  }
}
