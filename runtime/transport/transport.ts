/**
 * How messages cross edges. The engine and the nodes only ever talk to this
 * interface; `memory` (in-process, the default) and `nats` (distributed) implement it.
 *
 * Sync edges are request/reply: the caller waits for the reply of the sync chain
 * behind the edge. Async edges hand the message off and never add latency to the
 * caller beyond acceptance (a bounded queue in memory, a JetStream stream on NATS).
 */
import type { Message } from "../envelope";

export interface EdgeInfo {
  id: string;
  pipeline: string;
  from: { node: string; port: string };
  to: { node: string; port: string };
  mode: "sync" | "async";
  queue: { capacity: number; overflow: "block" | "drop-oldest"; concurrency: number };
}

export interface DeadLetter {
  ts: number;
  pipeline: string;
  node: string;
  port: string;
  edge?: string;
  reason: string;
  message: Message;
}

export type SyncHandler = (message: Message) => Promise<Message[]>;
export type AsyncHandler = (message: Message) => Promise<void>;

export interface EdgeStats {
  /** Messages waiting on the edge. */
  depth: number;
  /** Messages dropped by the overflow policy. */
  dropped: number;
}

export interface Transport {
  readonly kind: string;
  /** Makes this process answer calls over a sync edge. */
  serveSync(edge: EdgeInfo, handler: SyncHandler): Promise<void>;
  /** Sends over a sync edge and resolves with the reply; rejects with the remote node's error. */
  callSync(edge: EdgeInfo, message: Message): Promise<Message[]>;
  /** Makes this process consume an async edge; the handler resolving acknowledges the message. */
  consumeAsync(edge: EdgeInfo, handler: AsyncHandler): Promise<void>;
  /** Resolves once the edge has accepted the message (a full `block` queue makes the producer wait). */
  publishAsync(edge: EdgeInfo, message: Message): Promise<void>;
  deadLetter(letter: DeadLetter): Promise<void>;
  edgeStats(edge: EdgeInfo): EdgeStats;
  /** Resolves when no message is queued or being handled on any async edge of the pipeline. */
  idle(pipeline: string): Promise<void>;
  /** Stops serving and consuming the pipeline's edges. */
  detach(pipeline: string): Promise<void>;
  close(): Promise<void>;
}
