/**
 * Taps: every edge keeps a bounded ring of its recent messages and fans them out
 * to live subscribers (WebSocket, `evoflow tap`). The ring holds references, not
 * copies: messages are immutable once emitted. It is bounded by count and by the
 * binary data (tensors, images) its messages hold: 256 images of 224×224×3 floats
 * would keep 154 MB alive on one edge.
 */
import type { Message } from "./envelope";
import { Ring } from "../sdk/ring";

/** Binary data each edge's tap ring holds unless a pipeline's settings say otherwise. */
const DEFAULT_TAP_BYTES = 4 * 1024 * 1024;

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
