/**
 * The message envelope every node receives and emits (DESIGN.md). The runtime makes them
 * (runtime/envelope.ts); a node reads `payload` and, for provenance, `parents` and `source`.
 */
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
