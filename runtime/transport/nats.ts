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
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, errors, headers, type Msg } from "@nats-io/transport-node";
import { NodeError } from "../../sdk/errors";
import type { Message } from "../envelope";
import type { TraceNode } from "../envelope";
import { edgeId } from "../schema";
import { readDeadLetters, readScalingEvents, readTrace } from "./nats-read";
import { readRefusals } from "./nats-refusals";
import { decodeMessage, encode, decode, type SyncReply } from "./nats-codec";
import * as names from "./nats-names";
import type { EdgeInfo, EdgeStats, StoredDeadLetter, SyncHandler, Transport, TransportStatus } from "./transport";
import { type AttachedPipeline, HEARTBEAT_MS, sampled, sleep } from "./nats-publish";
import { NatsAsyncEdges } from "./nats-async";
import type { NatsTransportOptions } from "./nats-definitions";

export type { NatsTransportOptions } from "./nats-definitions";

/** Scaling events a pipeline's status shows (the stream keeps them all, within its retention). */
const STATUS_SCALING_EVENTS = 20;

export class NatsTransport extends NatsAsyncEdges implements Transport {
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
    // Pulling stops first: a message handed back while this process still pulls comes straight back to it.
    await Promise.all([...attached.consumers.values()].map((c) => c.close()));
    for (const handBack of attached.handBack) handBack();
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

  /**
   * The pipeline's stream (edges, captured sync traffic, dead letters) and every message of its
   * definition's key: purged from the bucket's stream, as KV's own purge would leave a marker per name.
   */
  async discard(pipeline: string): Promise<void> {
    await this.jsm.streams.delete(names.streamName(pipeline)).catch((err: Error) => {
      if (!/stream not found/i.test(err.message)) throw err;
    });
    await this.jsm.streams.purge(`KV_${names.PIPELINES_BUCKET}`, { filter: `$KV.${names.PIPELINES_BUCKET}.${pipeline}` });
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
    const scaling = (await readScalingEvents(this.js, pipeline, STATUS_SCALING_EVENTS).catch(() => undefined))?.events;
    return { processes, placement, lag, refused: await readRefusals(this.nc, pipeline), ...(scaling?.length ? { scaling } : {}) };
  }

  /** The dead letters on the pipeline's stream, from every process; undecodable bytes shown as a text preview. */
  async deadLetters(pipeline: string, limit?: number): Promise<{ total: number; letters: StoredDeadLetter[] }> {
    const { total, letters } = await readDeadLetters(this.js, pipeline, limit);
    return { total, letters: letters.map((l) => ({ ...l, raw: l.raw && new TextDecoder().decode(l.raw.subarray(0, 200)) })) };
  }

  /** Beside the captured sync traffic (`capture.<stream>.<traceId>`), so trace and tap read it as they read an edge. */
  async publishToStream(pipeline: string, stream: string, message: Message): Promise<void> {
    const data = encode(message);
    if (data.length > this.maxMessageBytes) throw new Error(`message of ${data.length} bytes is over the ${this.maxMessageBytes}-byte limit of the ${stream} stream`);
    await this.js.publish(names.captureSubject(pipeline, stream, message.traceId), data, { msgID: `${stream}:${message.id}` });
  }

  /** A trace from the streams of the pipelines this process runs: every process's async messages and captured sync traffic. */
  async trace(traceId: string): Promise<{ pipeline: string; messages: Message[]; outputs: TraceNode[] } | undefined> {
    for (const pipeline of this.pipelines.keys()) {
      const found = await readTrace(this.js, pipeline, traceId);
      if (found.messages.length > 0) return { pipeline, ...found };
    }
    return undefined;
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
