/**
 * The message envelope every node emits (DESIGN.md). `parents` are the ids of the
 * messages consumed to make this one: that is provenance. `traceId` is a W3C
 * trace-context trace id (32 hex) and `id` a span id (16 hex), so they join
 * OpenTelemetry traces.
 */
// Made by the SDK (sdk/envelope.ts), so nodes and tools create messages as the engine does.
export { createMessage, newMessageId, newTraceId, type Message, type MessageSource, type TraceNode } from "../sdk/envelope";

const TRACE_ID = /^[0-9a-f]{32}$/;

/** Reads a W3C `traceparent` header (`00-<trace-id>-<parent-id>-<flags>`); undefined when absent or malformed. */
export function traceIdFromTraceparent(header: string | undefined): string | undefined {
  const traceId = header?.split("-")[1];
  return traceId && TRACE_ID.test(traceId) && !/^0+$/.test(traceId) ? traceId : undefined;
}
