/**
 * Taps: every edge keeps a bounded ring of its recent messages and fans them out
 * to live subscribers (WebSocket, `evoflow tap`). The ring holds references, not
 * copies: messages are immutable once emitted. It is bounded by count and by the
 * binary data (tensors, images) its messages hold: 256 images of 224×224×3 floats
 * would keep 154 MB alive on one edge.
 */
import type { Message } from "./envelope";

/** Binary data each edge's tap ring holds unless a pipeline's settings say otherwise. */
const DEFAULT_TAP_BYTES = 4 * 1024 * 1024;

export class Ring<T> {
  private readonly items: T[];
  /** Each item's weight, when the ring has a weight budget. */
  private readonly weights?: Float64Array;
  private weight = 0;
  private next = 0;
  private count = 0;
  /** Everything ever pushed, so readers can tell how much they missed. */
  total = 0;

  /** With `maxWeight`, the oldest items also go while the weights pushed with them add up to more (the newest always stays). */
  constructor(
    readonly capacity: number,
    private readonly maxWeight?: number,
  ) {
    this.items = new Array(capacity);
    if (maxWeight !== undefined) this.weights = new Float64Array(capacity);
  }

  push(item: T, weight = 0): void {
    if (this.capacity === 0) return;
    // Full, the next slot is the oldest's: overwritten.
    const slot = this.next;
    const full = this.count === this.capacity;
    this.items[slot] = item;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    if (!full) this.count++;
    this.total++;
    if (this.weights) {
      this.weight += weight - (full ? this.weights[slot] : 0);
      this.weights[slot] = weight;
      while (this.weight > this.maxWeight! && this.count > 1) this.dropOldest();
    }
  }

  private dropOldest(): void {
    const oldest = (this.next - this.count + this.capacity) % this.capacity;
    this.items[oldest] = undefined as T;
    if (this.weights) this.weight -= this.weights[oldest];
    this.count--;
  }

  /** Oldest first; the last `limit` when given. */
  toArray(limit = this.count): T[] {
    const n = Math.min(limit, this.count);
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.items[(this.next - n + i + this.capacity) % this.capacity];
    return out;
  }
}

export type TapListener = (edge: string, message: Message) => void;

export class TapStore {
  private readonly rings = new Map<string, Ring<Message>>();
  private readonly listeners = new Map<string, Set<TapListener>>();

  constructor(
    private readonly capacity: number,
    private readonly bytesPerEdge = DEFAULT_TAP_BYTES,
  ) {}

  /** The ring of an edge, created on first use; callers on the hot path keep the reference. */
  ring(edge: string): Ring<Message> {
    let r = this.rings.get(edge);
    if (!r) this.rings.set(edge, (r = new Ring(this.capacity, this.bytesPerEdge)));
    return r;
  }

  /** `binaryBytes`: of the message's payload (runtime/binary-payload.ts), which its emitter weighs once for taps and traces. */
  record(edge: string, ring: Ring<Message>, message: Message, binaryBytes: number): void {
    ring.push(message, binaryBytes);
    if (this.listeners.size === 0) return;
    const set = this.listeners.get(edge);
    if (!set) return;
    for (const l of set) {
      // A subscriber (a WebSocket, `evoflow tap`) that fails must not fail the emit that fed it.
      try {
        l(edge, message);
      } catch {
        // its own loss: the message is in the ring and went on downstream
      }
    }
  }

  read(edge: string, limit?: number): { total: number; messages: Message[] } {
    const r = this.rings.get(edge);
    return r ? { total: r.total, messages: r.toArray(limit) } : { total: 0, messages: [] };
  }

  subscribe(edge: string, listener: TapListener): () => void {
    let set = this.listeners.get(edge);
    if (!set) this.listeners.set(edge, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.listeners.delete(edge);
    };
  }
}
