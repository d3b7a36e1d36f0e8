/**
 * Reading a pipeline's stream back: taps from a past point (`--since`, `--seq`,
 * `--last`), traces across processes, and the dead letters. Everything here uses
 * ordered consumers (ephemeral, server-side filtered), so reading never disturbs the
 * durable consumers the pipeline runs on.
 */
import { DeliverPolicy, type JetStreamClient, type OrderedConsumerOptions } from "@nats-io/jetstream";
import type { Message } from "../envelope";
import { traceTree, type TraceNode } from "../provenance";
import { decode, decodeMessage, type DeadLetterRecord } from "./nats-codec";
import * as names from "./nats-names";
import type { ScalingEvent } from "./transport";

export interface StoredMessage {
  /** Stream sequence: the position to replay from (`--seq`). */
  seq: number;
  /** When JetStream stored it. */
  time: Date;
  subject: string;
  message: Message;
}

export type StartAt = { since: Date } | { seq: number } | { last: number } | { all: true };

/** Parses `--since` values: `90s`, `10m`, `2h`, `1d` ago, or an ISO date. */
export function parseSince(text: string, now = Date.now()): Date {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (m) {
    const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
    return new Date(now - Number(m[1]) * unit);
  }
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`--since takes a duration (90s, 10m, 2h, 1d) or a date, not "${text}"`);
  return date;
}

/** The stream subject filter of an edge: its own subject for async edges, the capture for sync ones. */
export function edgeReadFilter(pipeline: string, edge: string, mode: "sync" | "async"): string {
  return mode === "async" ? names.edgeFilter(pipeline, edge) : names.captureFilter(pipeline, edge);
}

/**
 * Reads the messages on a filter from a starting point. Without `follow` it stops at
 * the end of the stream as it was when called; with it, it keeps yielding live ones
 * until `signal` aborts.
 */
export async function* readStream(
  js: JetStreamClient,
  pipeline: string,
  filter: string,
  start: StartAt,
  options: { follow?: boolean; signal?: AbortSignal } = {},
): AsyncGenerator<StoredMessage> {
  const config: Partial<OrderedConsumerOptions> = { filter_subjects: filter, deliver_policy: DeliverPolicy.All };
  if ("since" in start) Object.assign(config, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.since.toISOString() });
  else if ("seq" in start) Object.assign(config, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.seq });
  const consumer = await js.consumers.get(names.streamName(pipeline), config).catch((err: Error) => {
    throw /stream not found/i.test(err.message) ? new Error(`pipeline ${pipeline} has no stream on this NATS server`) : err;
  });
  // The server counts what matches from the start point: the end of a bounded read, and where `--last N` begins.
  const total = (await consumer.info(true)).num_pending;
  let skip = "last" in start ? Math.max(0, total - start.last) : 0;
  if (total === 0 && !options.follow) {
    await consumer.delete().catch(() => undefined);
    return;
  }
  const messages = await consumer.consume();
  const stop = () => void messages.close();
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of messages) {
      const end = m.info.pending === 0 && !options.follow;
      if (skip > 0) skip--;
      else {
        let message: Message;
        try {
          message = decodeMessage(m.data);
        } catch {
          if (end) break;
          continue; // bytes that are no message are the DLQ's business, not the tap's
        }
        yield { seq: m.seq, time: new Date(Math.floor(m.info.timestampNanos / 1e6)), subject: m.subject, message };
      }
      if (end) break;
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    await messages.close();
  }
}

/** Every message of one trace in the pipeline's stream (async edges and captured sync traffic), as a tree. */
export async function readTrace(
  js: JetStreamClient,
  pipeline: string,
  traceId: string,
): Promise<{ messages: Message[]; outputs: TraceNode[] }> {
  const seen = new Set<string>();
  const messages: Message[] = [];
  for (const filter of names.traceFilters(pipeline, traceId))
    for await (const { message } of readStream(js, pipeline, filter, { all: true })) {
      // Fan-out stores a message once per edge; and subject tokens are sanitised, so another trace may share this one's.
      if (seen.has(message.id) || message.traceId !== traceId) continue;
      seen.add(message.id);
      messages.push(message);
    }
  return { messages, outputs: traceTree(messages) };
}

/** The dead letters of a pipeline (the last `limit`, oldest first) and how many the stream holds. */
export async function readDeadLetters(js: JetStreamClient, pipeline: string, limit = Infinity): Promise<{ total: number; letters: DeadLetterRecord[] }> {
  const { total, records } = await readLast(js, pipeline, names.dlqSubject(pipeline), limit, (data) => decode(data) as DeadLetterRecord);
  return { total, letters: records };
}

/** The scaling events `evoflow supervise` recorded for a pipeline (the last `limit`, oldest first). */
export async function readScalingEvents(js: JetStreamClient, pipeline: string, limit = Infinity): Promise<{ total: number; events: ScalingEvent[] }> {
  const { total, records } = await readLast(js, pipeline, names.scaleSubject(pipeline), limit, (data) => JSON.parse(new TextDecoder().decode(data)) as ScalingEvent);
  return { total, events: records };
}

/** The last `limit` records on one subject of the pipeline's stream, oldest first, and how many it holds. */
async function readLast<T>(js: JetStreamClient, pipeline: string, subject: string, limit: number, parse: (data: Uint8Array) => T): Promise<{ total: number; records: T[] }> {
  const consumer = await js.consumers.get(names.streamName(pipeline), { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  const total = (await consumer.info(true)).num_pending;
  const records: T[] = [];
  if (total === 0 || limit <= 0) {
    await consumer.delete().catch(() => undefined);
    return { total, records };
  }
  let skip = Math.max(0, total - limit);
  const messages = await consumer.consume();
  try {
    for await (const m of messages) {
      if (skip > 0) skip--;
      else records.push(parse(m.data));
      if (m.info.pending === 0) break;
    }
  } finally {
    await messages.close();
  }
  return { total, records };
}
