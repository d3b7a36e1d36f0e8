/**
 * How messages cross edges. The engine and the nodes only ever talk to this
 * interface; `memory` (in-process, the default) and `nats` (distributed) implement it.
 *
 * Sync edges are request/reply: the caller waits for the reply of the sync chain
 * behind the edge. Async edges hand the message off and never add latency to the
 * caller beyond acceptance (a bounded queue in memory, a JetStream stream on NATS).
 */
import type { Message } from "../envelope";
import type { TraceNode } from "../envelope";
import type { Pipeline } from "../schema";
import type { ProcessFootprint } from "../process-footprint";

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

/** Answers at once (an array) when the chain behind it finished synchronously, else with a promise. */
/** A dead letter as a transport keeps it: bytes that never decoded have no message, only their subject, size and a text preview. */
export type StoredDeadLetter = Omit<DeadLetter, "message"> & { message?: Message; subject?: string; size?: number; raw?: string };

export type SyncHandler = (message: Message) => Message[] | Promise<Message[]>;
/** May finish at once (returning anything but a promise) or return a promise; either way, done means acknowledged. */
export type AsyncHandler = (message: Message) => unknown;

export interface EdgeStats {
  /** Messages waiting on the edge. */
  depth: number;
  /** Messages dropped by the overflow policy. */
  dropped: number;
  /** What `depth` fills towards before the overflow policy applies; absent where the queue does not bound it (on NATS the stream's retention does). */
  capacity?: number;
}

/** What a process runs of a pipeline, told to the transport before any edge is served. */
export interface PipelineAttachment {
  pipeline: Pipeline;
  edges: readonly EdgeInfo[];
  /** The nodes this process runs. */
  localNodes: readonly string[];
}

/** Where a distributed pipeline runs (see `Transport.status`). */
export interface TransportStatus {
  /** The live processes running part of the pipeline, with what each holds as of its last heartbeat (every 5 s). */
  processes: ({ id: string; host: string; pid: number; role: string; placement?: string; nodes: string[]; since: string } & ProcessFootprint)[];
  /** Per node: the processes running it; replicas share its work. */
  placement: Record<string, { replicas: number; processes: string[] }>;
  /** Per async edge: messages not yet delivered, delivered but not acknowledged, and redelivered. */
  lag: Record<string, { pending: number; ackPending: number; redelivered: number }>;
  /** Processes that will not run their share of the pipeline, and why (a node package they lack, …). */
  refused?: Refusal[];
  /** The last scaling events of `evoflow supervise`, oldest first: the pipeline's scaling history. */
  scaling?: ScalingEvent[];
}

/** `evoflow supervise` changed how many worker processes run a scaled node, and why. */
export interface ScalingEvent {
  /** Milliseconds since the epoch. */
  ts: number;
  pipeline: string;
  node: string;
  from: number;
  to: number;
  /** The lag it decided on: messages pending plus delivered-unacknowledged on the node's async inputs. */
  lag: number;
  pending: number;
  ackPending: number;
  /** Messages the node's replicas handled per second over the last interval, and the seconds one took per replica (absent before the first measure). */
  handledPerSecond?: number;
  secondsPerMessage?: number;
  reason: string;
  /** The supervisor process that decided. */
  supervisor: string;
}

/** A process refusing its share of a pipeline. */
export interface Refusal {
  process: string;
  pipeline: string;
  /** The nodes the process was to run, none of which it runs. */
  nodes: string[];
  /** Why, each with its JSON path in the pipeline (`$.requires["evoflow-nodes-acme"]`, `$.nodes[1].type`). */
  problems: { path: string; message: string }[];
  since: string;
}

export interface Transport {
  readonly kind: string;
  /** Optional: prepares the pipeline's shared resources (streams, consumers) before the engine serves its edges. */
  attach?(attachment: PipelineAttachment): Promise<void>;
  /** Optional: where the pipeline's nodes run and how far behind its async edges are. */
  status?(pipeline: string): Promise<TransportStatus>;
  /** Optional: a trace's messages from every process, where the transport keeps them (the nats stream). */
  trace?(traceId: string): Promise<{ pipeline: string; messages: Message[]; outputs: TraceNode[] } | undefined>;
  /**
   * Optional: stores a message no node emitted (an on-demand explanation) in the pipeline's own
   * stream `stream`, where every process's trace and tap read it (on nats: the pipeline's
   * JetStream stream). Resolves once stored. Absent (memory): the process's taps and traces are all there is.
   */
  publishToStream?(pipeline: string, stream: string, message: Message): Promise<void>;
  /** Optional: the pipeline's dead letters from every process (the last `limit`, oldest first) and how many there are. */
  deadLetters?(pipeline: string, limit?: number): Promise<{ total: number; letters: StoredDeadLetter[] }>;
  /** Makes this process answer calls over a sync edge. */
  serveSync(edge: EdgeInfo, handler: SyncHandler): Promise<void>;
  /** Sends over a sync edge and resolves with the reply; rejects with the remote node's error. */
  callSync(edge: EdgeInfo, message: Message): Message[] | Promise<Message[]>;
  /** Makes this process consume an async edge; the handler resolving acknowledges the message. */
  consumeAsync(edge: EdgeInfo, handler: AsyncHandler): Promise<void>;
  /**
   * Hands a message to an async edge. Returns undefined when it was accepted at
   * once, else a promise that resolves on acceptance (a full `block` queue makes the
   * producer wait; a broker confirms). Undefined spares the hot path a promise.
   * `handling` is the message (the same object the transport handed to the node) that the
   * emitting node was handling, if any: the nats transport ties the emit to its acknowledgement.
   */
  publishAsync(edge: EdgeInfo, message: Message, handling?: Message): Promise<void> | undefined;
  /** Optional: publishAsync bound to one edge, for a transport that can skip finding the edge per message. */
  publisher?(edge: EdgeInfo): (message: Message, handling?: Message) => Promise<void> | undefined;
  /** Stores a dead letter; resolves false when the transport retries the message instead (it has deliveries left), so there is no letter. */
  deadLetter(letter: DeadLetter): Promise<boolean>;
  edgeStats(edge: EdgeInfo): EdgeStats;
  /**
   * Optional: whether a producer publishing on this `block` edge now would have to wait for
   * the consumer (its bounded queue is full). Load shedding refuses sync requests then
   * (runtime/overload.ts). Absent (nats: the stream takes what it is sent), never.
   */
  isFull?(edge: EdgeInfo): boolean;
  /** Resolves when no message is queued or being handled on any async edge of the pipeline. */
  idle(pipeline: string): Promise<void>;
  /** Stops serving and consuming the pipeline's edges. */
  detach(pipeline: string): Promise<void>;
  /** Optional: the pipeline was removed, not replaced: a transport that shares definitions with other processes takes its own back. */
  withdraw?(pipeline: string): Promise<void>;
  /** Optional: deletes all the transport keeps of a withdrawn pipeline (on nats its stream), for throwaway pipelines such as a test case's. */
  discard?(pipeline: string): Promise<void>;
  close(): Promise<void>;
}
