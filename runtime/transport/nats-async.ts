/**
 * The NATS transport (nats.ts), second layer: async edges. Publishing (deterministic
 * Nats-Msg-Ids, the window per edge, PubAcks), consuming with the handled-ids window,
 * retries with backoff, crash-redelivery accounting and dead letters.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { headers, type Msg } from "@nats-io/transport-node";
import type { Message } from "../envelope";
import { decodeMessage, encode, MalformedMessageError, type DeadLetterRecord } from "./nats-codec";
import * as names from "./nats-names";
import type { AsyncHandler, DeadLetter, EdgeInfo } from "./transport";
import {
  HandlingScope,
  Window,
  PubAcks,
  type AttachedPipeline,
  DEFAULT_MAX_DELIVER,
  RETRY_BACKOFF_MS,
  RETRY_BACKOFF_MAX_MS,
  HANDLED_WINDOW,
  MAX_NESTED_STARTS,
  pullBatch,
  HAND_BACK_DELAY_MS,
  RecentSet,
  type Stored,
} from "./nats-publish";
import { NatsDefinitions } from "./nats-definitions";

/** Async edges over JetStream: publishing with PubAcks, consuming, retries and dead letters (second layer of NatsTransport). */
export abstract class NatsAsyncEdges extends NatsDefinitions {
  // ---- async edges ---------------------------------------------------------------

  protected window(edge: EdgeInfo): Window {
    const key = `${edge.pipeline}/${edge.id}`;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new Window(edge.queue.capacity)));
    return w;
  }

  protected begin(attached: AttachedPipeline | undefined): void {
    if (attached) attached.inFlight++;
  }

  protected end(attached: AttachedPipeline | undefined): void {
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
  protected sendEmit(edge: EdgeInfo, window: Window, subject: string, data: Uint8Array, msgId: string, messageId: string, scope: HandlingScope | undefined): void {
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
  protected store(subject: string, data: Uint8Array, msgID: string, hdrs: ReturnType<typeof headers>, done: Stored, attempt = 0): void {
    hdrs.set("Nats-Msg-Id", msgID);
    this.pubAcks.publish(subject, data, hdrs, (err) => {
      if (!err) return done();
      if (this.closed || this.nc.isClosed()) return done(err);
      if (attempt % 20 === 0) this.log("warn", `publish to ${subject} failed, retrying: ${err.message}`);
      setTimeout(() => this.store(subject, data, msgID, hdrs, done, attempt + 1), Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
    });
  }

  protected storeDurably(subject: string, data: Uint8Array, msgID: string, hdrs = headers()): Promise<void> {
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
    // After a delay: the server may still hold this process's last pull request for a moment after
    // it stopped pulling, and would send the message straight back into it, to be dropped (and wait out ackWait).
    const handBack = (m: JsMsg) => {
      m.nak(HAND_BACK_DELAY_MS);
      this.end(attached);
    };
    // Stopping (a scale-down's SIGTERM): what waits here goes back at once, not one per freed slot.
    attached.handBack.push(() => waiting.splice(0).forEach(handBack));
    const start = (m: JsMsg) => {
      if (attached.quiesced) return handBack(m);
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
      max_messages: pullBatch(edge),
      callback: (m) => {
        this.begin(attached);
        if (attached.quiesced) return handBack(m);
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
  protected handleAsync(
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
  protected offBand(edge: EdgeInfo, work: Promise<void>, finished: () => void): void {
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
  protected async handleRedelivered(edge: EdgeInfo, m: JsMsg, message: Message, handler: AsyncHandler, handled: RecentSet, maxDeliver: number): Promise<void> {
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
  protected runNode(
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
  protected async giveUp(edge: EdgeInfo, m: JsMsg, message: Message, died: number, maxDeliver: number): Promise<void> {
    const reason =
      `the process running ${edge.to.node} on it stopped (crashed, was killed or lost its connection) before acknowledging it, ` +
      `on each of ${died} deliveries (settings.delivery.maxDeliver ${maxDeliver})`;
    this.log("warn", `dead letter: ${reason}`, { pipeline: edge.pipeline, node: edge.to.node, message: message.id });
    const letter: DeadLetterRecord = { ts: Date.now(), pipeline: edge.pipeline, node: edge.to.node, port: edge.to.port, edge: edge.id, reason, message, deliveries: died };
    await this.storeDurably(names.dlqSubject(edge.pipeline), encode(letter), `dlq:${edge.id}:${message.id}`, this.reasonHeaders(reason, edge.id));
    m.term();
  }

  /** Bytes that are no message: kept on the DLQ with the reason, then acknowledged. */
  protected async rejectRaw(m: JsMsg, reason: string): Promise<void> {
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

  protected reasonHeaders(reason: string, edge?: string): ReturnType<typeof headers> {
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
}
