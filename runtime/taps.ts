/**
 * Taps: every edge keeps a bounded ring of its recent messages and fans them out
 * to live subscribers (WebSocket, `evoflow tap`). The ring holds references, not
 * copies: messages are immutable once emitted.
 */
import type { Message } from "./envelope";

export class Ring<T> {
  private readonly items: T[];
  private next = 0;
  private count = 0;
  /** Everything ever pushed, so readers can tell how much they missed. */
  total = 0;

  constructor(readonly capacity: number) {
    this.items = new Array(capacity);
  }

  push(item: T): void {
    if (this.capacity === 0) return;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.total++;
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

  constructor(private readonly capacity: number) {}

  /** The ring of an edge, created on first use; callers on the hot path keep the reference. */
  ring(edge: string): Ring<Message> {
    let r = this.rings.get(edge);
    if (!r) this.rings.set(edge, (r = new Ring(this.capacity)));
    return r;
  }

  record(edge: string, ring: Ring<Message>, message: Message): void {
    ring.push(message);
    if (this.listeners.size === 0) return;
    const set = this.listeners.get(edge);
    if (set) for (const l of set) l(edge, message);
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
