/**
 * The message envelope every node receives and emits (DESIGN.md), and `createMessage`, which
 * makes them for the engine and for tools alike; a node reads `payload`, `parents` and `source`.
 */
import { randomBytes } from "node:crypto";

export interface MessageSource {
  pipeline: string;
  node: string;
  port: string;
  /** The model version that produced this message, when a model did. */
  model?: { name: string; version: string | number };
}

export interface Message<P = unknown> {
  id: string;
  traceId: string;
  parents: string[];
  ts: number;
  source: MessageSource;
  payload: P;
}

/** A message with the messages that led to it, as `evoflow trace` and the API show a trace. */
export interface TraceNode {
  id: string;
  node: string;
  port: string;
  ts: number;
  model?: { name: string; version: string | number };
  payload: unknown;
  parents: TraceNode[];
}

// Ids are a random per-process prefix plus a counter: unique, sortable within a
// process, and far cheaper than a random draw per message on the hot path. The
// counter's hex is built from two cached halves, not a toString(16) per message.
const idPrefix = randomBytes(4).toString("hex");
const HEX4 = Array.from({ length: 65536 }, (_, i) => i.toString(16).padStart(4, "0"));
let idCounter = 0;
let idHigh = idPrefix + HEX4[0];
const traceIdPrefix = randomBytes(8).toString("hex");
// The trace counter's 64 bits as two 32-bit halves, built from HEX4 as ids are.
let traceLow = 0;
let traceHighCount = 0;
let traceHigh = traceIdPrefix + HEX4[0] + HEX4[0];

export function newMessageId(): string {
  idCounter = (idCounter + 1) >>> 0;
  const low = idCounter & 0xffff;
  if (low === 0) idHigh = idPrefix + HEX4[idCounter >>> 16];
  return idHigh + HEX4[low];
}

export function newTraceId(): string {
  traceLow = (traceLow + 1) >>> 0;
  if (traceLow === 0) {
    traceHighCount++;
    traceHigh = traceIdPrefix + HEX4[traceHighCount >>> 16] + HEX4[traceHighCount & 0xffff];
  }
  return traceHigh + HEX4[traceLow >>> 16] + HEX4[traceLow & 0xffff];
}

/** A message from `source`, its provenance the messages it was made from (`parents`), in their trace unless `traceId` is given. */
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
