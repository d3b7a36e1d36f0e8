/**
 * The message envelope every node emits (DESIGN.md). `parents` are the ids of the
 * messages consumed to make this one: that is provenance. `traceId` is a W3C
 * trace-context trace id (32 hex) and `id` a span id (16 hex), so they join
 * OpenTelemetry traces.
 */
import { randomBytes } from "node:crypto";

export type { Message, MessageSource, TraceNode } from "../sdk/envelope";
import type { Message, MessageSource } from "../sdk/envelope";

// Ids are a random per-process prefix plus a counter: unique, sortable within a
// process, and far cheaper than a random draw per message on the hot path. The
// counter's hex is built from two cached halves, not a toString(16) per message.
const idPrefix = randomBytes(4).toString("hex");
const HEX4 = Array.from({ length: 65536 }, (_, i) => i.toString(16).padStart(4, "0"));
let idCounter = 0;
let idHigh = idPrefix + HEX4[0];
const traceIdPrefix = randomBytes(8).toString("hex");
let traceCounter = 0;

export function newMessageId(): string {
  idCounter = (idCounter + 1) >>> 0;
  const low = idCounter & 0xffff;
  if (low === 0) idHigh = idPrefix + HEX4[idCounter >>> 16];
  return idHigh + HEX4[low];
}

export function newTraceId(): string {
  traceCounter++;
  return traceIdPrefix + traceCounter.toString(16).padStart(16, "0");
}

const TRACE_ID = /^[0-9a-f]{32}$/;

/** Reads a W3C `traceparent` header (`00-<trace-id>-<parent-id>-<flags>`); undefined when absent or malformed. */
export function traceIdFromTraceparent(header: string | undefined): string | undefined {
  const traceId = header?.split("-")[1];
  return traceId && TRACE_ID.test(traceId) && !/^0+$/.test(traceId) ? traceId : undefined;
}

export function createMessage<P>(source: MessageSource, payload: P, parents: readonly Message[] = [], traceId?: string): Message<P> {
  return {
    id: newMessageId(),
    traceId: traceId ?? parents[0]?.traceId ?? newTraceId(),
    parents: parents.map((p) => p.id),
    ts: Date.now(),
    source,
    payload,
  };
}
