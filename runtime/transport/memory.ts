/**
 * The in-process transport, the embedded default: sync edges are direct calls,
 * async edges are bounded queues with a declared overflow policy.
 */
import type { Message } from "../envelope";
import type { AsyncHandler, DeadLetter, EdgeInfo, EdgeStats, SyncHandler, Transport } from "./transport";

const FAIRNESS_BURST = 256;

/**
 * A bounded FIFO with its consumers. A ring buffer rather than an array with
 * shift(): shift is O(n) on large queues and this is the hot path of every async hop.
 */
class EdgeQueue {
  private readonly ring: (Message | undefined)[];
  private head = 0;
  private size = 0;
  dropped = 0;
  private inFlight = 0;
  private readonly blockedProducers: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private handler?: AsyncHandler;
  private closed = false;

  constructor(private readonly edge: EdgeInfo) {
    this.ring = new Array(edge.queue.capacity);
  }

  get depth(): number {
    return this.size;
  }

  consume(handler: AsyncHandler): void {
    this.handler = handler;
    this.pump();
  }

  publish(message: Message): Promise<void> | undefined {
    if (this.closed) return undefined;
    // Nothing queued and a consumer free: the message goes straight to it, not through the ring.
    if (this.size === 0 && this.handler && this.inFlight < this.edge.queue.concurrency) {
      this.inFlight++;
      this.run(message);
      return undefined;
    }
    const { capacity, overflow } = this.edge.queue;
    if (this.size < capacity) {
      this.push(message);
      return undefined;
    }
    if (overflow === "drop-oldest") {
      this.head = (this.head + 1) % capacity;
      this.size--;
      this.dropped++;
      this.push(message);
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.blockedProducers.push(() => {
        this.push(message);
        resolve();
      });
    });
  }

  private push(message: Message): void {
    this.ring[(this.head + this.size) % this.ring.length] = message;
    this.size++;
    this.pump();
  }

  private take(): Message {
    const message = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.size--;
    if (this.blockedProducers.length > 0) this.blockedProducers.shift()!();
    return message;
  }

  private pump(): void {
    if (!this.handler) return;
    while (this.inFlight < this.edge.queue.concurrency && this.size > 0) {
      this.inFlight++;
      this.run(this.take());
    }
  }

  /**
   * Drains the queue in this task while work is queued: one task per burst, not per
   * message. A handler that finishes at once is not awaited and this loop is plain
   * synchronous code, so a chain of such hops makes no promise at all; a handler that
   * returns a promise, or every FAIRNESS_BURST messages (to let I/O in), continues
   * the loop asynchronously.
   */
  private run(first: Message): void {
    let message: Message | undefined = first;
    let streak = 0;
    while (message) {
      let done: unknown;
      try {
        done = this.handler!(message);
      } catch {
        // The engine already dead-lettered it; the consumer carries on.
      }
      if (done instanceof Promise) return void this.resumeAfter(done);
      if (++streak === FAIRNESS_BURST) return void this.resumeAfter(new Promise((r) => setImmediate(r)));
      message = this.next();
    }
    this.finish();
  }

  private async resumeAfter(pending: Promise<unknown>): Promise<void> {
    try {
      await pending;
    } catch {
      // Dead-lettered by the engine, as above.
    }
    const message = this.next();
    if (message) this.run(message);
    else this.finish();
  }

  private next(): Message | undefined {
    return this.size > 0 && !this.closed && this.handler ? this.take() : undefined;
  }

  private finish(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.size === 0) this.notifyIdle();
  }

  isIdle(): boolean {
    return this.size === 0 && this.inFlight === 0 && this.blockedProducers.length === 0;
  }

  whenIdle(): Promise<void> {
    if (this.isIdle() || !this.handler) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  close(): void {
    this.closed = true;
    this.handler = undefined;
    this.notifyIdle();
  }
}

export class MemoryTransport implements Transport {
  readonly kind = "memory";
  private readonly syncHandlers = new Map<string, SyncHandler>();
  private readonly queues = new Map<string, EdgeQueue>();

  private key(edge: EdgeInfo): string {
    return `${edge.pipeline}/${edge.id}`;
  }

  /** Per edge object, so the hot path does not build a key string per message. */
  private readonly queueOf = new WeakMap<EdgeInfo, EdgeQueue>();
  private readonly handlerOf = new WeakMap<EdgeInfo, SyncHandler>();

  private queue(edge: EdgeInfo): EdgeQueue {
    let q = this.queueOf.get(edge);
    if (q) return q;
    const key = this.key(edge);
    q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = new EdgeQueue(edge)));
    this.queueOf.set(edge, q);
    return q;
  }

  async serveSync(edge: EdgeInfo, handler: SyncHandler): Promise<void> {
    this.syncHandlers.set(this.key(edge), handler);
  }

  callSync(edge: EdgeInfo, message: Message): Message[] | Promise<Message[]> {
    let handler = this.handlerOf.get(edge);
    if (!handler) {
      handler = this.syncHandlers.get(this.key(edge));
      if (handler) this.handlerOf.set(edge, handler);
    }
    if (!handler) return Promise.reject(new Error(`no node serves sync edge ${edge.id} of pipeline ${edge.pipeline}`));
    return handler(message);
  }

  async consumeAsync(edge: EdgeInfo, handler: AsyncHandler): Promise<void> {
    this.queue(edge).consume(handler);
  }

  publishAsync(edge: EdgeInfo, message: Message): Promise<void> | undefined {
    return this.queue(edge).publish(message);
  }

  publisher(edge: EdgeInfo): (message: Message) => Promise<void> | undefined {
    const queue = this.queue(edge);
    return (message) => queue.publish(message);
  }

  async deadLetter(_letter: DeadLetter): Promise<boolean> {
    // In memory the engine's dead-letter ring is the stream; nothing more to persist.
    return true;
  }

  isFull(edge: EdgeInfo): boolean {
    return this.queue(edge).depth >= edge.queue.capacity;
  }

  edgeStats(edge: EdgeInfo): EdgeStats {
    const q = this.queues.get(this.key(edge));
    return { depth: q?.depth ?? 0, dropped: q?.dropped ?? 0, ...(edge.mode === "async" && { capacity: edge.queue.capacity }) };
  }

  async idle(pipeline: string): Promise<void> {
    // Draining one queue can fill another downstream: loop until all are idle at once.
    for (;;) {
      const busy = [...this.queues.entries()].filter(([k, q]) => k.startsWith(`${pipeline}/`) && !q.isIdle());
      if (busy.length === 0) return;
      await Promise.all(busy.map(([, q]) => q.whenIdle()));
      await new Promise((r) => setImmediate(r));
    }
  }

  async detach(pipeline: string): Promise<void> {
    for (const [key, q] of this.queues) {
      if (!key.startsWith(`${pipeline}/`)) continue;
      q.close();
      this.queues.delete(key);
    }
    for (const key of this.syncHandlers.keys()) if (key.startsWith(`${pipeline}/`)) this.syncHandlers.delete(key);
  }

  async close(): Promise<void> {
    for (const q of this.queues.values()) q.close();
    this.queues.clear();
    this.syncHandlers.clear();
  }
}
