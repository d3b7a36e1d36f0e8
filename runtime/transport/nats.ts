/**
 * The distributed transport: the same pipeline JSON, its nodes spread over processes
 * (`evoflow run --nats` as coordinator, `evoflow worker`), talking over NATS.
 *
 * Async edges are JetStream: one stream per pipeline (names in nats-names.ts), one
 * durable pull consumer per edge shared by every process that runs the target node,
 * so replicas share the work. A message is acknowledged only once the node has
 * handled it AND everything it emitted on async edges has been stored by JetStream
 * (its PubAcks): a crash anywhere between loses nothing, it redelivers (at-least-once).
 *
 * Duplicates. Redelivery re-runs a node, so it re-emits. Each async publish carries
 * `Nats-Msg-Id = <edge>:<input edge>/<id of the message being handled>:<n-th emit on that edge>`,
 * the same in whichever process re-runs it, so JetStream's duplicate window drops the
 * re-emits before any consumer sees them. A redelivery to a process that had already
 * handled the message (its ack was lost, e.g. across a server restart or a cluster's
 * leader change, which can even deliver it again as a first delivery) is acknowledged and
 * skipped by a bounded window of handled message ids per edge, which also drops a message
 * the stream holds twice; a redelivery of a message still being handled (its ack wait ran
 * out) is left to that handling. Together: a message reaches the sink once, for
 * deterministic nodes, within the duplicate window (2 min). Messages a node emits on async
 * edges while serving a sync call are keyed by their own id.
 *
 * Failures and crashes. A node that fails on an async message is retried: the message is
 * handed back (nak, 0.2 s doubling to 10 s) and delivered again, up to
 * `settings.delivery.maxDeliver` (default 5) deliveries; then it goes to the dead-letter stream
 * with the last error and the delivery count, and is terminated. A message whose process dies
 * while running it (crash, OOM kill) is counted the same way, through a KV marker set while a
 * redelivered message runs (see handleRedelivered), so the other messages that process had
 * buffered are not blamed. Only the failing message is held back; the edge keeps flowing.
 *
 * Ordering. With one replica and `concurrency` 1 an edge is handled in stream order until a
 * message is redelivered: a retried or crash-redelivered message is handled after later ones,
 * and replicas or `concurrency` > 1 interleave anyway. Evoflow does not restore the order; a
 * node that needs it orders by what is in the message (its `ts`, a sequence in the payload).
 *
 * Sync edges are NATS request/reply on `evoflow.<pipeline>.sync.<edge>` with a queue
 * group per edge and a timeout. A remote node's error comes back as a NodeError with
 * the remote message; no responder or no reply in time is an error, never a hang.
 * Sync traffic is captured into the stream per `settings.capture` so trace and tap see it.
 *
 * Bad bytes on an edge subject (not CBOR, not an envelope, over the size limit) go to
 * `evoflow.<pipeline>.dlq` with the reason and are acknowledged; the consumer goes on.
 *
 * Definitions. `run --nats` stores each pipeline's definition in KV for the workers; stopping
 * cleanly it takes them out again (workers stop their share), leaving the stream readable.
 *
 * Edge settings on NATS: `queue.capacity` bounds the publishes awaiting their PubAck per
 * edge and process (a full window makes the producer wait, as `block`); `drop-oldest` does
 * not apply, what the stream keeps is `settings.retention` (max age, max bytes, oldest
 * discarded first); `queue.concurrency` is how many messages each process handles at once.
 * `settings.delivery.ackWaitSeconds` is how long a crashed worker's messages wait before
 * another replica gets them (a live worker signals progress while its node works).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, createInbox, errors, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { NodeError } from "../../sdk/errors";
import type { Message } from "../envelope";
import type { TraceNode } from "../provenance";
import { stringHash } from "../random";
import { edgeId, type Pipeline } from "../schema";
import { readDeadLetters, readTrace } from "./nats-read";
import { readRefusals } from "./nats-refusals";
import { decodeMessage, encode, decode, MalformedMessageError, type DeadLetterRecord, type SyncReply } from "./nats-codec";
import * as names from "./nats-names";
import type {
  AsyncHandler,
  DeadLetter,
  EdgeInfo,
  EdgeStats,
  PipelineAttachment,
  StoredDeadLetter,
  SyncHandler,
  Transport,
  TransportStatus,
} from "./transport";

export interface NatsTransportOptions {
  servers: string | string[];
  /** `coordinator` publishes pipeline definitions to KV for workers; `worker` only reads them. */
  role?: "coordinator" | "worker";
  /** The worker group this process stands for (shown in status). */
  placement?: string;
  /** Replicas of streams and KV buckets (3 on a three-server cluster). */
  replicas?: number;
  /** How long a sync call waits for its reply. */
  syncTimeoutMs?: number;
  /** Largest encoded message; defaults to the server's max_payload. */
  maxMessageBytes?: number;
  log?: (level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

/**
 * One async message being handled: keys its emits deterministically and counts their
 * PubAcks outstanding, so the message is acknowledged once the node is done and all are in.
 */
class HandlingScope {
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

interface AttachedPipeline {
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
}

const DUPLICATE_WINDOW_NS = 120e9;
const HANDLED_WINDOW = 50_000;
const HEARTBEAT_MS = 5_000;
const DEFAULT_MAX_DELIVER = 5;
/** A failed message comes back after 0.2 s, then 0.4, 0.8, ... at most 10 s. */
const RETRY_BACKOFF_MS = 200;
const RETRY_BACKOFF_MAX_MS = 10_000;
/** Messages started within one another's call before the next starts on a fresh stack (see consumeAsync). */
const MAX_NESTED_STARTS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Same answer for the same trace in every process, so a sampled trace is captured whole. */
function sampled(traceId: string, rate: number): boolean {
  return stringHash(traceId) / 0x1_0000_0000 < rate;
}

/** Remembers the last `capacity` keys: a Set, and a ring that says which one to forget next. */
class RecentSet {
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
class Window {
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
class Outbox {
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
type Stored = (err?: Error) => void;

/**
 * Collects JetStream PubAcks for publishes sent as plain NATS messages with a reply
 * subject under one inbox. Written here rather than using `js.publish` because that
 * builds a request object with two Error instances (stack traces) per message, measured
 * as the largest single cost of an async hop; here a publish is one map entry and a
 * callback, no promise.
 */
class PubAcks {
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

export class NatsTransport implements Transport {
  readonly kind = "nats";
  readonly processId: string;
  /**
   * The scope of each async message being handled, by the message object handed to the node:
   * the engine names it on each emit (not AsyncLocalStorage, whose promise hooks would tax
   * every promise in the process).
   */
  private readonly scopes = new WeakMap<Message, HandlingScope>();
  private readonly pipelines = new Map<string, AttachedPipeline>();
  private readonly windows = new Map<string, Window>();
  private readonly maxMessageBytes: number;
  private readonly startedAt = new Date().toISOString();
  /** Definitions this coordinator stored in KV, with the revision it wrote. */
  private readonly published = new Map<string, number>();
  private readonly outbox: Outbox;
  private readonly pubAcks: PubAcks;
  private closed = false;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    private readonly pipelinesKv: KV,
    private readonly processesKv: KV,
    private readonly attemptsKv: KV,
    private readonly options: NatsTransportOptions,
  ) {
    this.processId = `${hostname().replace(/[^A-Za-z0-9_-]/g, "_")}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.maxMessageBytes = Math.min(options.maxMessageBytes ?? Infinity, nc.info?.max_payload ?? 1024 * 1024);
    this.outbox = new Outbox(nc);
    this.pubAcks = new PubAcks(nc, this.outbox, 5_000);
  }

  static async connect(options: NatsTransportOptions): Promise<NatsTransport> {
    const nc = await connect({
      servers: options.servers,
      name: `evoflow-${options.role ?? "coordinator"}`,
      // Keep trying through a server restart: JetStream holds the data, we hold the work.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(nc);
    const replicas = options.replicas ?? 1;
    const pipelinesKv = await kvm.create(names.PIPELINES_BUCKET, { history: 5, replicas });
    const processesKv = await kvm.create(names.PROCESSES_BUCKET, { history: 1, replicas, ttl: HEARTBEAT_MS * 3 });
    const attemptsKv = await kvm.create(names.ATTEMPTS_BUCKET, { history: 1, replicas, ttl: 24 * 3600_000 });
    return new NatsTransport(nc, jetstream(nc), jsm, pipelinesKv, processesKv, attemptsKv, options);
  }

  private log(level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(level, message, fields);
  }

  // ---- pipeline definitions (KV) -------------------------------------------------

  /** The pipeline definitions `run --nats` stored, by name. */
  async definitions(): Promise<Map<string, Pipeline>> {
    const out = new Map<string, Pipeline>();
    for await (const key of await this.pipelinesKv.keys()) {
      const def = await this.definition(key);
      if (def) out.set(key, def);
    }
    return out;
  }

  async definition(name: string): Promise<Pipeline | undefined> {
    const entry = await this.pipelinesKv.get(name);
    return entry && entry.operation === "PUT" ? (entry.json() as Pipeline) : undefined;
  }

  /** The definition running, else the last one stored before its coordinator stopped (for reading its edges back). */
  async lastDefinition(name: string): Promise<Pipeline | undefined> {
    const running = await this.definition(name);
    if (running) return running;
    let last: Pipeline | undefined;
    for await (const e of await this.pipelinesKv.history({ key: name })) if (e.operation === "PUT") last = e.json() as Pipeline;
    return last;
  }

  /** Calls back with each definition change (and the current ones first); returns the stop function. */
  async watchDefinitions(listener: (name: string, pipeline: Pipeline | undefined) => void): Promise<() => void> {
    const watch = await this.pipelinesKv.watch();
    void (async () => {
      for await (const e of watch) listener(e.key, e.operation === "PUT" ? (e.json() as Pipeline) : undefined);
    })();
    return () => watch.stop();
  }

  // ---- attach: stream, consumers, presence --------------------------------------

  async attach({ pipeline, edges, localNodes }: PipelineAttachment): Promise<void> {
    const name = pipeline.name;
    await this.ensureStream(pipeline, edges);
    const attached: AttachedPipeline = {
      pipeline,
      edges,
      localNodes: new Set(localNodes),
      consumers: new Map(),
      subscriptions: [],
      inFlight: 0,
      idleWaiters: [],
      lag: new Map(),
      quiesced: false,
    };
    this.pipelines.set(name, attached);
    if ((this.options.role ?? "coordinator") === "coordinator") this.published.set(name, await this.pipelinesKv.put(name, JSON.stringify(pipeline)));
    await this.beat(attached);
    attached.heartbeat = setInterval(() => void this.beat(attached).catch(() => undefined), HEARTBEAT_MS);
    attached.heartbeat.unref();
  }

  private async ensureStream(pipeline: Pipeline, edges: readonly EdgeInfo[]): Promise<void> {
    const name = pipeline.name;
    const retention = pipeline.settings?.retention;
    const maxAgeNs = retention?.maxAgeSeconds ? retention.maxAgeSeconds * 1e9 : 0;
    const config: Partial<StreamConfig> & { name: string } = {
      name: names.streamName(name),
      subjects: names.streamSubjects(name),
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: maxAgeNs,
      max_bytes: retention?.maxBytes ?? -1,
      num_replicas: this.options.replicas ?? 1,
      duplicate_window: maxAgeNs > 0 ? Math.min(DUPLICATE_WINDOW_NS, maxAgeNs) : DUPLICATE_WINDOW_NS,
    };
    try {
      await this.jsm.streams.add(config);
    } catch (err) {
      // Exists with other settings (retention changed in the JSON): update it in place.
      if (!/already in use/i.test((err as Error).message)) throw err;
      await this.jsm.streams.update(config.name, config);
    }
    const ackWaitSeconds = pipeline.settings?.delivery?.ackWaitSeconds ?? 30;
    for (const edge of edges) {
      if (edge.mode !== "async") continue;
      const consumer: Partial<ConsumerConfig> = {
        durable_name: names.consumerName(edge.id),
        filter_subject: names.edgeFilter(name, edge.id),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ackWaitSeconds * 1e9,
        max_ack_pending: Math.max(1024, edge.queue.capacity * 4),
      };
      try {
        await this.jsm.consumers.add(names.streamName(name), consumer);
      } catch (err) {
        if (!/already (in use|exists)/i.test((err as Error).message)) throw err;
        await this.jsm.consumers.update(names.streamName(name), consumer.durable_name!, consumer);
      }
    }
  }

  private async beat(attached: AttachedPipeline): Promise<void> {
    const info = {
      id: this.processId,
      host: hostname(),
      pid: process.pid,
      role: this.options.role ?? "coordinator",
      placement: this.options.placement,
      nodes: [...attached.localNodes],
      since: this.startedAt,
    };
    await this.processesKv.put(`${attached.pipeline.name}.${this.processId}`, JSON.stringify(info));
    for (const edge of attached.edges) {
      if (edge.mode !== "async") continue;
      const ci = await this.jsm.consumers.info(names.streamName(attached.pipeline.name), names.consumerName(edge.id)).catch(() => undefined);
      if (ci) attached.lag.set(edge.id, ci.num_pending + ci.num_ack_pending);
    }
  }

  // ---- async edges ---------------------------------------------------------------

  private window(edge: EdgeInfo): Window {
    const key = `${edge.pipeline}/${edge.id}`;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new Window(edge.queue.capacity)));
    return w;
  }

  private begin(attached: AttachedPipeline | undefined): void {
    if (attached) attached.inFlight++;
  }

  private end(attached: AttachedPipeline | undefined): void {
    if (!attached || --attached.inFlight > 0) return;
    const waiters = attached.idleWaiters;
    attached.idleWaiters = [];
    for (const w of waiters) w();
  }

  publishAsync(edge: EdgeInfo, message: Message, handling?: Message): Promise<void> | undefined {
    return this.publisher(edge)(message, handling);
  }

  /** publishAsync bound to one edge: its window and subject prefix are found once. */
  publisher(edge: EdgeInfo): (message: Message, handling?: Message) => Promise<void> | undefined {
    const window = this.window(edge);
    const subjectPrefix = names.edgeSubjectPrefix(edge.pipeline, edge.id);
    return (message, handling) => {
      const data = encode(message);
      if (data.length > this.maxMessageBytes)
        return Promise.reject(new Error(`message of ${data.length} bytes is over the ${this.maxMessageBytes}-byte limit of edge ${edge.id}`));
      const scope = handling && this.scopes.get(handling);
      const msgId = scope ? scope.nextMsgId(edge.id) : `${edge.id}:${message.id}`;
      const subject = subjectPrefix + names.token(message.traceId);
      // Accepted at once while the edge's window of unconfirmed publishes has room; else the producer waits.
      if (window.tryAcquire()) this.sendEmit(edge, window, subject, data, msgId, message.id, scope);
      else return window.acquire().then(() => this.sendEmit(edge, window, subject, data, msgId, message.id, scope));
      return undefined;
    };
  }

  /** Stores an emit; its PubAck frees the window and counts toward the handled message's ack. */
  private sendEmit(edge: EdgeInfo, window: Window, subject: string, data: Uint8Array, msgId: string, messageId: string, scope: HandlingScope | undefined): void {
    const attached = this.pipelines.get(edge.pipeline);
    this.begin(attached);
    if (scope) scope.pending++;
    this.store(subject, data, msgId, headers(), (err) => {
      window.release();
      this.end(attached);
      if (!scope) {
        if (err) this.log("error", `lost message ${messageId} on edge ${edge.id}: ${err.message}`);
        return;
      }
      if (err) scope.lost = true;
      scope.pending--;
      scope.check();
    });
  }

  /** Publishes to the stream until JetStream stores it (retrying through outages); the msg id makes retries safe. */
  private store(subject: string, data: Uint8Array, msgID: string, hdrs: ReturnType<typeof headers>, done: Stored, attempt = 0): void {
    hdrs.set("Nats-Msg-Id", msgID);
    this.pubAcks.publish(subject, data, hdrs, (err) => {
      if (!err) return done();
      if (this.closed || this.nc.isClosed()) return done(err);
      if (attempt % 20 === 0) this.log("warn", `publish to ${subject} failed, retrying: ${err.message}`);
      setTimeout(() => this.store(subject, data, msgID, hdrs, done, attempt + 1), Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
    });
  }

  private storeDurably(subject: string, data: Uint8Array, msgID: string, hdrs = headers()): Promise<void> {
    return new Promise((resolve, reject) => this.store(subject, data, msgID, hdrs, (err) => (err ? reject(err) : resolve())));
  }

  async consumeAsync(edge: EdgeInfo, handler: AsyncHandler): Promise<void> {
    const attached = this.pipelines.get(edge.pipeline);
    if (!attached) throw new Error(`pipeline ${edge.pipeline} is not attached to the nats transport`);
    const consumer = await this.js.consumers.get(names.streamName(edge.pipeline), names.consumerName(edge.id));
    const handled = new RecentSet(HANDLED_WINDOW);
    /** The messages being handled, by stream sequence. */
    const inProgress = new Map<number, JsMsg>();
    const delivery = attached.pipeline.settings?.delivery;
    const ackWaitMs = (delivery?.ackWaitSeconds ?? 30) * 1000;
    const maxDeliver = delivery?.maxDeliver ?? DEFAULT_MAX_DELIVER;
    // Long handlers (training) keep their messages: tell the server we are still at it.
    const keepAlive = setInterval(() => {
      for (const m of inProgress.values()) m.working();
    }, ackWaitMs / 3);
    keepAlive.unref();
    // Up to `concurrency` messages handled at once; the ones delivered beyond wait here, in order.
    let busy = 0;
    const waiting: JsMsg[] = [];
    /** False for a redelivery of a message still being handled (its ack wait ran out): that handling acknowledges it. */
    const admit = (m: JsMsg): boolean => {
      if (!inProgress.has(m.seq)) return true;
      this.end(attached);
      return false;
    };
    // A node that finishes at once frees its slot inside `start`, which starts the next waiting
    // message: a backlog (a replacement worker's first pull) would nest one call per message
    // and overflow the stack. Past MAX_NESTED_STARTS the next starts on a fresh stack.
    let nested = 0;
    const start = (m: JsMsg) => {
      if (attached.quiesced) {
        m.nak();
        this.end(attached);
        return;
      }
      busy++;
      inProgress.set(m.seq, m);
      nested++;
      try {
        this.handleAsync(edge, m, handler, handled, maxDeliver, () => {
          let next = waiting.shift();
          while (next && !admit(next)) next = waiting.shift();
          if (!next || nested < MAX_NESTED_STARTS) {
            busy--;
            if (next) start(next);
          } else
            // The slot stays taken until then, so a message delivered meanwhile waits behind `next`.
            setImmediate(() => {
              busy--;
              start(next);
            });
        }, () => {
          inProgress.delete(m.seq);
          this.end(attached);
        });
      } finally {
        nested--;
      }
    };
    // A callback, not the async iterator: the messages of one read from the socket are handled
    // in one go, and their acks and publishes leave in one write instead of one each.
    const messages = await consumer.consume({
      max_messages: Math.min(256, Math.max(16, edge.queue.capacity)),
      callback: (m) => {
        this.begin(attached);
        if (!admit(m)) return;
        if (busy < edge.queue.concurrency) start(m);
        else waiting.push(m);
      },
    });
    void messages.closed().then(() => clearInterval(keepAlive));
    attached.consumers.set(edge.id, messages);
  }

  /**
   * One delivery: skip what was handled already, dead-letter bytes that are no message, else
   * run the node. `freeSlot` is called once the node is done with it; `finished` once the
   * message is acknowledged (after the PubAcks of what it emitted), handed back for a retry,
   * or left for redelivery.
   */
  private handleAsync(
    edge: EdgeInfo,
    m: JsMsg,
    handler: AsyncHandler,
    handled: RecentSet,
    maxDeliver: number,
    freeSlot: () => void,
    finished: () => void,
  ): void {
    if (m.data.length > this.maxMessageBytes) {
      freeSlot();
      return this.offBand(edge, this.rejectRaw(m, `oversized: ${m.data.length} bytes is over the ${this.maxMessageBytes}-byte limit`), finished);
    }
    let message: Message;
    try {
      message = decodeMessage(m.data);
    } catch (err) {
      freeSlot();
      return this.offBand(edge, this.rejectRaw(m, err instanceof MalformedMessageError ? err.message : `undecodable: ${(err as Error).message}`), finished);
    }
    if (handled.has(message.id)) {
      m.ack();
      freeSlot();
      return finished();
    }
    if (m.info.deliveryCount > 1)
      return this.offBand(edge, this.handleRedelivered(edge, m, message, handler, handled, maxDeliver), () => {
        freeSlot();
        finished();
      });
    this.runNode(edge, m, message, handler, handled, maxDeliver, freeSlot, finished);
  }

  /** Work off the hot path: its failure is logged (the message stays unacknowledged and comes back). */
  private offBand(edge: EdgeInfo, work: Promise<void>, finished: () => void): void {
    work.catch((err) => this.log("error", `edge ${edge.id}: ${(err as Error).message}`)).finally(finished);
  }

  /**
   * A redelivery: the message was in the hands of a process that did not acknowledge it. The
   * server's delivery count cannot say whether that process died because of this message: a
   * crash redelivers every message the process had buffered too. So a redelivered message runs
   * under a marker in KV, alone in its slot until its ack is confirmed; a marker found on the
   * next delivery means the process died while running it. The first delivery is not marked
   * (that would cost a write per message) and is counted as one such death. After
   * `maxDeliver` deliveries that died, the message is dead-lettered and terminated.
   */
  private async handleRedelivered(edge: EdgeInfo, m: JsMsg, message: Message, handler: AsyncHandler, handled: RecentSet, maxDeliver: number): Promise<void> {
    const marker = `${edge.pipeline}.${edge.id}.${m.seq}`;
    const entry = await this.attemptsKv.get(marker).catch(() => null);
    const died = 1 + (entry?.operation === "PUT" ? Number(entry.string()) : 0);
    if (died >= maxDeliver) {
      await this.giveUp(edge, m, message, died, maxDeliver);
      await this.attemptsKv.delete(marker).catch(() => undefined);
      return;
    }
    await this.attemptsKv.put(marker, String(died)).catch(() => undefined);
    await new Promise<void>((resolve) => this.runNode(edge, m, message, handler, handled, maxDeliver, () => undefined, resolve, marker));
  }

  /** Runs the node on a decoded message in a handling scope, then acks, retries or terminates it. */
  private runNode(
    edge: EdgeInfo,
    m: JsMsg,
    message: Message,
    handler: AsyncHandler,
    handled: RecentSet,
    maxDeliver: number,
    freeSlot: () => void,
    finished: () => void,
    marker?: string,
  ): void {
    const delivery = m.info.deliveryCount;
    // The input edge is part of the key: a node fed one message on two edges emits twice, legitimately.
    const scope = new HandlingScope(`${edge.id}/${message.id}`, edge.id, message.id, delivery, maxDeliver, freeSlot, (s) => {
      if (s.lost) {
        // Left unacknowledged: redelivered after ackWait, to whoever runs the node then.
        return finished();
      }
      if (s.retryReason !== undefined) m.nak(Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_MS * 2 ** (delivery - 1)));
      else if (delivery >= maxDeliver && s.failed) m.term(); // no reason text: nats-server 2.9 ignores a TERM that carries one
      else if (marker) {
        handled.add(message.id);
        // Confirmed before the marker goes: a death after this point is not this message's.
        void m
          .ackAck()
          .then(() => this.attemptsKv.delete(marker))
          .catch(() => undefined)
          .finally(finished);
        return;
      } else {
        this.outbox.ack(m);
        handled.add(message.id);
      }
      if (marker) void this.attemptsKv.delete(marker).catch(() => undefined).finally(finished);
      else finished();
    });
    let result: unknown;
    try {
      this.scopes.set(message, scope);
      result = handler(message);
    } catch {
      return scope.nodeDone(true);
    }
    if (result instanceof Promise)
      result.then(
        () => scope.nodeDone(false),
        () => scope.nodeDone(true),
      );
    else scope.nodeDone(false);
  }

  /** The processes handling it died on `died` deliveries: dead-lettered, not run again. */
  private async giveUp(edge: EdgeInfo, m: JsMsg, message: Message, died: number, maxDeliver: number): Promise<void> {
    const reason =
      `the process running ${edge.to.node} on it stopped (crashed, was killed or lost its connection) before acknowledging it, ` +
      `on each of ${died} deliveries (settings.delivery.maxDeliver ${maxDeliver})`;
    this.log("warn", `dead letter: ${reason}`, { pipeline: edge.pipeline, node: edge.to.node, message: message.id });
    const letter: DeadLetterRecord = { ts: Date.now(), pipeline: edge.pipeline, node: edge.to.node, port: edge.to.port, edge: edge.id, reason, message, deliveries: died };
    await this.storeDurably(names.dlqSubject(edge.pipeline), encode(letter), `dlq:${edge.id}:${message.id}`, this.reasonHeaders(reason, edge.id));
    m.term();
  }

  /** Bytes that are no message: kept on the DLQ with the reason, then acknowledged. */
  private async rejectRaw(m: JsMsg, reason: string): Promise<void> {
    const pipeline = m.subject.split(".")[1];
    const letter: DeadLetterRecord = {
      ts: Date.now(),
      pipeline,
      node: "",
      port: "",
      edge: m.subject.split(".")[3],
      reason,
      subject: m.subject,
      size: m.data.length,
      // Oversized bytes would not fit on the DLQ either: keep their head for diagnosis.
      raw: m.data.length > this.maxMessageBytes ? m.data.slice(0, 1024) : m.data,
    };
    this.log("warn", `dead letter: ${reason}`, { pipeline, subject: m.subject });
    await this.storeDurably(names.dlqSubject(pipeline), encode(letter), `dlq:seq:${m.seq}`, this.reasonHeaders(reason, letter.edge));
    m.ack();
  }

  private reasonHeaders(reason: string, edge?: string): ReturnType<typeof headers> {
    const h = headers();
    h.set("Evoflow-Reason", reason.replace(/[\r\n]+/g, " ").slice(0, 1024));
    if (edge) h.set("Evoflow-Edge", edge);
    return h;
  }

  /**
   * A node failed on a message. On an async edge with deliveries left, the failure is not
   * dead-lettered but retried: the message is handed back (nak with a growing delay) and
   * delivered again, to this or another replica. On the last delivery, or for any other
   * failure, it goes to the dead-letter stream with the reason and the delivery count.
   */
  async deadLetter(letter: DeadLetter): Promise<boolean> {
    const scope = this.scopes.get(letter.message);
    const ofHandledMessage = scope !== undefined && letter.edge === scope.edge && letter.message.id === scope.messageId;
    if (ofHandledMessage && scope.delivery < scope.maxDeliver) {
      scope.retryReason = letter.reason;
      this.log("info", `retrying: ${letter.reason}`, { pipeline: letter.pipeline, node: letter.node, delivery: scope.delivery });
      return false;
    }
    const stored: DeadLetterRecord = ofHandledMessage
      ? { ...letter, reason: `${letter.reason} (failed on each of ${scope.delivery} deliveries; settings.delivery.maxDeliver ${scope.maxDeliver})`, deliveries: scope.delivery }
      : letter;
    let data = encode(stored);
    if (data.length > this.maxMessageBytes) data = encode({ ...stored, message: { ...letter.message, payload: "(payload over the size limit)" } });
    await this.storeDurably(
      names.dlqSubject(letter.pipeline),
      data,
      `dlq:${letter.edge ?? letter.node}:${letter.message.id}`,
      this.reasonHeaders(stored.reason, letter.edge),
    );
    return true;
  }

  // ---- sync edges ----------------------------------------------------------------

  async serveSync(edge: EdgeInfo, handler: SyncHandler): Promise<void> {
    const attached = this.pipelines.get(edge.pipeline);
    if (!attached) throw new Error(`pipeline ${edge.pipeline} is not attached to the nats transport`);
    const sub = this.nc.subscribe(names.syncSubject(edge.pipeline, edge.id), {
      queue: `${edge.pipeline}.${edge.id}`,
      callback: (err, msg) => {
        if (!err) void this.answer(edge, attached, msg, handler);
      },
    });
    attached.subscriptions.push(sub);
  }

  private async answer(edge: EdgeInfo, attached: AttachedPipeline, msg: Msg, handler: SyncHandler): Promise<void> {
    let reply: SyncReply;
    try {
      const message = decodeMessage(msg.data);
      const messages = await handler(message);
      reply = { messages };
      if (this.captures(attached, message.traceId))
        for (const r of messages) if (r.source.node === edge.to.node) this.capture(edge, r);
    } catch (err) {
      reply =
        err instanceof NodeError
          ? { error: { node: err.node, port: err.port, message: err.message } }
          : { error: { node: edge.to.node, port: edge.to.port, message: (err as Error).message } };
    }
    let data = encode(reply);
    if (data.length > this.maxMessageBytes)
      data = encode({ error: { node: edge.to.node, port: edge.to.port, message: `reply of ${data.length} bytes is over the ${this.maxMessageBytes}-byte limit` } });
    msg.respond(data);
  }

  async callSync(edge: EdgeInfo, message: Message): Promise<Message[]> {
    const data = encode(message);
    if (data.length > this.maxMessageBytes)
      throw new Error(`message of ${data.length} bytes is over the ${this.maxMessageBytes}-byte limit of edge ${edge.id}`);
    const attached = this.pipelines.get(edge.pipeline);
    if (attached && this.captures(attached, message.traceId)) this.capture(edge, message);
    const timeout = this.options.syncTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeout;
    let answer: Msg;
    let unserved = false;
    for (let attempt = 0; ; attempt++) {
      try {
        answer = await this.nc.request(names.syncSubject(edge.pipeline, edge.id), data, { timeout: Math.max(1, deadline - Date.now()) });
        break;
      } catch (err) {
        const cause = (err as Error).cause;
        // No process serves the node (yet: a worker starting, or replaced): wait for one within the timeout.
        const noResponders = err instanceof errors.NoRespondersError || cause instanceof errors.NoRespondersError;
        unserved ||= noResponders;
        if (noResponders && Date.now() < deadline - 50) {
          await sleep(Math.min(500, 25 * 2 ** Math.min(attempt, 5), deadline - Date.now()));
          continue;
        }
        const timedOut = err instanceof errors.TimeoutError || cause instanceof errors.TimeoutError;
        if (noResponders || (timedOut && unserved))
          throw new Error(`no process serves ${edge.to.node} (sync edge ${edge.id}) after ${timeout} ms: start a worker for it`);
        if (timedOut)
          throw new Error(`${edge.to.node} did not answer within ${timeout} ms (sync edge ${edge.id})`);
        throw err;
      }
    }
    const reply = decode(answer.data) as SyncReply;
    if ("error" in reply) throw new NodeError(reply.error.node, reply.error.port, reply.error.message);
    return reply.messages;
  }

  private captures(attached: AttachedPipeline, traceId: string): boolean {
    const capture = attached.pipeline.settings?.capture;
    const mode = capture?.sync ?? "full";
    return mode === "full" || (mode === "sampled" && sampled(traceId, capture?.sampleRate ?? 0.01));
  }

  /** Fire-and-forget into the stream: capture must not add a round trip to the request path. */
  private capture(edge: EdgeInfo, message: Message): void {
    const h = headers();
    h.set("Nats-Msg-Id", `cap:${edge.id}:${message.id}`);
    this.nc.publish(names.captureSubject(edge.pipeline, edge.id, message.traceId), encode(message), { headers: h });
  }

  // ---- lifecycle and figures -----------------------------------------------------

  edgeStats(edge: EdgeInfo): EdgeStats {
    return { depth: this.pipelines.get(edge.pipeline)?.lag.get(edge.id) ?? 0, dropped: 0 };
  }

  /**
   * Resolves when this process's share of the pipeline is drained: nothing it received is
   * unacknowledged, nothing it published is unstored, and the edges it consumes have
   * delivered everything that was in the stream when idle() was called (so it ends even
   * while producers elsewhere keep going). Edges consumed only elsewhere are theirs to drain.
   */
  async idle(pipeline: string): Promise<void> {
    const attached = this.pipelines.get(pipeline);
    if (!attached) return;
    const stream = names.streamName(pipeline);
    const target = (await this.jsm.streams.info(stream)).state.last_seq;
    const localEdges = attached.edges.filter((e) => e.mode === "async" && attached.localNodes.has(e.to.node));
    for (;;) {
      if (attached.inFlight > 0) await new Promise<void>((r) => attached.idleWaiters.push(r));
      if (attached.quiesced || this.closed) return;
      let drained = true;
      for (const edge of localEdges) {
        const ci = await this.jsm.consumers.info(stream, names.consumerName(edge.id));
        const caughtUp = ci.num_pending === 0 && ci.num_ack_pending === 0;
        if (!caughtUp && ci.ack_floor.stream_seq < target) drained = false;
      }
      if (drained && attached.inFlight === 0) return;
      await sleep(20);
    }
  }

  /** Stops taking messages for the pipeline and waits for the ones in hand to be acknowledged. */
  async quiesce(pipeline: string): Promise<void> {
    const attached = this.pipelines.get(pipeline);
    if (!attached) return;
    attached.quiesced = true;
    await Promise.all([...attached.consumers.values()].map((c) => c.close()));
    while (attached.inFlight > 0) await new Promise<void>((r) => attached.idleWaiters.push(r));
    this.outbox.send();
  }

  async detach(pipeline: string): Promise<void> {
    const attached = this.pipelines.get(pipeline);
    if (!attached) return;
    await this.quiesce(pipeline);
    // Drain, not unsubscribe: a request the server already routed here is answered, not dropped (its caller would wait out the timeout).
    await Promise.all(attached.subscriptions.map((sub) => sub.drain().catch(() => undefined)));
    clearInterval(attached.heartbeat);
    await this.processesKv.delete(`${pipeline}.${this.processId}`).catch(() => undefined);
    for (const key of this.windows.keys()) if (key.startsWith(`${pipeline}/`)) this.windows.delete(key);
    this.pipelines.delete(pipeline);
  }

  async status(pipeline: string): Promise<TransportStatus> {
    const processes: TransportStatus["processes"] = [];
    for await (const key of await this.processesKv.keys(`${pipeline}.*`)) {
      const entry = await this.processesKv.get(key);
      if (entry?.operation === "PUT") processes.push(entry.json());
    }
    processes.sort((a, b) => a.id.localeCompare(b.id));
    const definition = this.pipelines.get(pipeline)?.pipeline ?? (await this.definition(pipeline));
    const placement: TransportStatus["placement"] = {};
    for (const node of definition?.nodes ?? []) {
      const running = processes.filter((p) => p.nodes.includes(node.id)).map((p) => p.id);
      placement[node.id] = { replicas: running.length, processes: running };
    }
    const lag: TransportStatus["lag"] = {};
    const stream = names.streamName(pipeline);
    for (const edge of definition?.edges ?? []) {
      if (edge.mode !== "async") continue;
      const id = edgeId(edge);
      const ci = await this.jsm.consumers.info(stream, names.consumerName(id)).catch(() => undefined);
      if (ci) lag[id] = { pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered };
    }
    return { processes, placement, lag, refused: await readRefusals(this.nc, pipeline) };
  }

  /** The dead letters on the pipeline's stream, from every process; undecodable bytes shown as a text preview. */
  async deadLetters(pipeline: string, limit?: number): Promise<{ total: number; letters: StoredDeadLetter[] }> {
    const { total, letters } = await readDeadLetters(this.js, pipeline, limit);
    return { total, letters: letters.map((l) => ({ ...l, raw: l.raw && new TextDecoder().decode(l.raw.subarray(0, 200)) })) };
  }

  /** A trace from the streams of the pipelines this process runs: every process's async messages and captured sync traffic. */
  async trace(traceId: string): Promise<{ pipeline: string; messages: Message[]; outputs: TraceNode[] } | undefined> {
    for (const pipeline of this.pipelines.keys()) {
      const found = await readTrace(this.js, pipeline, traceId);
      if (found.messages.length > 0) return { pipeline, ...found };
    }
    return undefined;
  }

  /**
   * A coordinator stopping cleanly takes its definitions out of KV, so workers stop their
   * share and status shows no pipeline nobody runs; the streams and their messages stay, and
   * a coordinator started again puts the definition back. Only a definition still at the
   * revision this process wrote is removed: one redeployed since by another coordinator stays.
   * (A coordinator that dies leaves its definitions: the workers go on serving.)
   */
  private async withdrawDefinitions(): Promise<void> {
    for (const name of [...this.published.keys()]) await this.withdraw(name);
  }

  /** Takes the pipeline's definition out of KV (a DELETE of the pipeline), if it is still the one this process wrote. */
  async withdraw(pipeline: string): Promise<void> {
    const revision = this.published.get(pipeline);
    if (revision === undefined) return;
    this.published.delete(pipeline);
    await this.pipelinesKv.delete(pipeline, { previousSeq: revision }).catch((err: Error) => this.log("debug", `definition ${pipeline} left in KV: ${err.message}`));
  }

  async close(): Promise<void> {
    for (const name of [...this.pipelines.keys()]) await this.detach(name);
    await this.withdrawDefinitions();
    this.closed = true;
    this.pubAcks.close();
    this.outbox.send();
    await this.nc.drain().catch(() => undefined);
  }
}
