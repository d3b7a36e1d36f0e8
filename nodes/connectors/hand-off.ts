/**
 * What the broker sources (NATS, AMQP) share beyond nodes/connectors/shared.ts: what a source
 * counts, and the step "decode, then hand on or dead-letter" after which a source may acknowledge.
 */
import type { NodeContext } from "../../sdk";
import { decode, type FormatConfig } from "./formats";

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
  message: { bytes: Uint8Array; format: FormatConfig; where: string; wrap?: (value: unknown) => unknown },
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
