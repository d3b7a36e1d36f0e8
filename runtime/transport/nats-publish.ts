/**
 * The NATS transport's publish machinery (nats.ts): the handling scope of an async message,
 * the window of publishes in flight per edge, the outbox of acks and publishes sent in batches,
 * and the PubAck subscription that settles each publish. Also the state kept per attached
 * pipeline and the transport's timing constants.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { stringHash } from "../../sdk/random";
import type { Pipeline } from "../schema";
import * as names from "./nats-names";
import type { EdgeInfo } from "./transport";

/**
 * One async message being handled: keys its emits deterministically and counts their
 * PubAcks outstanding, so the message is acknowledged once the node is done and all are in.
 */
export class HandlingScope {
  /** Emits so far per edge, which number each emit's msg id. */
  private readonly counts = new Map<string, number>();
  /** Emits sent and not yet stored. */
  pending = 0;
  /** The node has finished with the message (or failed). */
  handled = false;
  /** An emit could not be stored (the transport is closing): leave the message to be redelivered. */
  lost = false;
  /** The node failed (dead-lettered by the engine, or retried). */
  failed = false;
  /** The node failed on a delivery that will be retried: its error, instead of a dead letter. */
  retryReason?: string;
  private settled = false;

  constructor(
    readonly key: string,
    readonly edge: string,
    readonly messageId: string,
    readonly delivery: number,
    readonly maxDeliver: number,
    private freeSlot: (() => void) | undefined,
    private onSettled: ((scope: HandlingScope) => void) | undefined,
  ) {}

  /** The msg id of the next emit on `edge`: the same in whichever process re-runs the node. */
  nextMsgId(edge: string): string {
    const n = this.counts.get(edge) ?? 0;
    this.counts.set(edge, n + 1);
    return `${edge}:${this.key}:${n}`;
  }

  /** The node is done with the message; `failed`: the engine dead-lettered the failure or handed its reason to retryReason. */
  nodeDone(failed: boolean): void {
    this.failed = failed;
    this.freeSlot?.();
    this.freeSlot = undefined;
    this.handled = true;
    this.check();
  }

  /** Called when the node finishes and on each PubAck; settles once both are done. */
  check(): void {
    if (this.settled || !this.handled || this.pending > 0) return;
    // A node may emit for this message later (from a timer): such emits belong to no acknowledgement.
    this.settled = true;
    // The scope lives as long as the message (trace rings keep it): let go of the delivery it held.
    const settle = this.onSettled!;
    this.onSettled = undefined;
    settle(this);
  }
}

export interface AttachedPipeline {
  pipeline: Pipeline;
  edges: readonly EdgeInfo[];
  localNodes: Set<string>;
  consumers: Map<string, ConsumerMessages>;
  subscriptions: Subscription[];
  /** Messages received and not yet acknowledged, plus publishes not yet stored. */
  inFlight: number;
  idleWaiters: (() => void)[];
  lag: Map<string, number>;
  heartbeat?: NodeJS.Timeout;
  quiesced: boolean;
  /** Per consumed edge: hands the messages delivered but not started back to the server (nak), for another replica. */
  handBack: (() => void)[];
}

export const DUPLICATE_WINDOW_NS = 120e9;
export const HANDLED_WINDOW = 50_000;
export const HEARTBEAT_MS = 5_000;
export const DEFAULT_MAX_DELIVER = 5;
/** A failed message comes back after 0.2 s, then 0.4, 0.8, ... at most 10 s. */
export const RETRY_BACKOFF_MS = 200;
export const RETRY_BACKOFF_MAX_MS = 10_000;
/** Messages started within one another's call before the next starts on a fresh stack (see consumeAsync). */
export const MAX_NESTED_STARTS = 100;

/** How long a message a stopping process hands back waits before the server delivers it again. */
export const HAND_BACK_DELAY_MS = 500;

/** Messages one process asks the server for at a time on an async edge (at least its concurrency). */
export const pullBatch = (edge: EdgeInfo) => Math.max(edge.queue.concurrency, Math.min(256, Math.max(16, edge.queue.capacity)));

/**
 * Messages the server hands out unacknowledged on an async edge's consumer, across every process
 * consuming it. The client pulls again as soon as messages arrive, not once they are handled, so
 * a process would take the whole backlog into its own queue; for a scaled node (`scale`) the
 * bound is each replica's pull batch times maxReplicas, so what waits stays in the stream for the
 * replicas the supervisor adds.
 */
export function maxAckPending(edge: EdgeInfo, pipeline: Pipeline): number {
  const scale = pipeline.nodes.find((n) => n.id === edge.to.node)?.scale;
  return scale ? scale.maxReplicas * pullBatch(edge) : Math.max(1024, edge.queue.capacity * 4);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Same answer for the same trace in every process, so a sampled trace is captured whole. */
export function sampled(traceId: string, rate: number): boolean {
  return stringHash(traceId) / 0x1_0000_0000 < rate;
}

/** Remembers the last `capacity` keys: a Set, and a ring that says which one to forget next. */
export class RecentSet {
  private readonly set = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;
  constructor(capacity: number) {
    this.ring = new Array(capacity);
  }
  has(key: string): boolean {
    return this.set.has(key);
  }
  add(key: string): void {
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.set.delete(oldest);
    this.ring[this.next] = key;
    this.next = (this.next + 1) % this.ring.length;
    this.set.add(key);
  }
}

/** Bounds the publishes in flight on one edge: the producer waits for room, as a `block` queue. */
export class Window {
  private used = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly size: number) {}
  tryAcquire(): boolean {
    if (this.used >= this.size) return false;
    this.used++;
    return true;
  }
  async acquire(): Promise<void> {
    if (!this.tryAcquire()) await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.used--;
  }
}

/**
 * Holds the sends made in one turn of the event loop and makes them together. nats.js
 * flushes its write buffer on a microtask, so acks and publishes made from separate
 * promise continuations (a node awaiting anything) otherwise cost a socket write each,
 * in this process and in the server that reads them; together they are one write.
 */
export class Outbox {
  private publishes: { subject: string; data: Uint8Array; reply: string; headers: ReturnType<typeof headers>; failed: Stored }[] = [];
  private acks: JsMsg[] = [];
  private scheduled = false;

  constructor(private readonly nc: NatsConnection) {}

  publish(subject: string, data: Uint8Array, reply: string, hdrs: ReturnType<typeof headers>, failed: Stored): void {
    this.publishes.push({ subject, data, reply, headers: hdrs, failed });
    this.schedule();
  }

  ack(m: JsMsg): void {
    this.acks.push(m);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  /** Makes the held sends now (before a drain or close). */
  send(): void {
    this.scheduled = false;
    const [publishes, acks] = [this.publishes, this.acks];
    this.publishes = [];
    this.acks = [];
    for (const p of publishes)
      try {
        this.nc.publish(p.subject, p.data, { reply: p.reply, headers: p.headers });
      } catch (err) {
        p.failed(err as Error);
      }
    for (const m of acks)
      try {
        m.ack();
      } catch {
        // The connection closed first: the message is redelivered, and a replay of a handled one is skipped or deduplicated.
      }
  }
}

/** Called once a publish is stored by JetStream (no argument) or failed. */
export type Stored = (err?: Error) => void;

/**
 * Collects JetStream PubAcks for publishes sent as plain NATS messages with a reply
 * subject under one inbox. Written here rather than using `js.publish` because that
 * builds a request object with two Error instances (stack traces) per message, measured
 * as the largest single cost of an async hop; here a publish is one map entry and a
 * callback, no promise.
 */
export class PubAcks {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, { done: Stored; sent: number }>();
  private next = 0;
  private readonly sweep: NodeJS.Timeout;

  constructor(nc: NatsConnection, private readonly outbox: Outbox, private readonly timeoutMs: number) {
    nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.settle(msg) });
    // Acks lost with a connection (server restart) time out here and the caller retries.
    this.sweep = setInterval(() => {
      const cutoff = Date.now() - this.timeoutMs;
      for (const [id, p] of this.pending)
        if (p.sent < cutoff) {
          this.pending.delete(id);
          p.done(new Error(`no PubAck within ${this.timeoutMs} ms`));
        }
    }, Math.min(1000, this.timeoutMs));
    this.sweep.unref();
  }

  publish(subject: string, data: Uint8Array, hdrs: ReturnType<typeof headers>, done: Stored): void {
    const id = (this.next++).toString(36);
    this.pending.set(id, { done, sent: Date.now() });
    this.outbox.publish(subject, data, `${this.inbox}.${id}`, hdrs, (err) => {
      if (this.pending.delete(id)) done(err);
    });
  }

  private settle(msg: Msg): void {
    const id = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    // 503: no stream listens (JetStream not ready yet after a restart); else a PubAck or an API error.
    if (msg.headers?.hasError) return p.done(new Error(`JetStream: ${msg.headers.code} ${msg.headers.description}`));
    // A PubAck is small JSON; only an error one names "error".
    const ack = msg.json<{ error?: { description: string } }>();
    p.done(ack.error ? new Error(`JetStream: ${ack.error.description}`) : undefined);
  }

  close(): void {
    clearInterval(this.sweep);
  }
}
