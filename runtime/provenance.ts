/**
 * Provenance: every emitted message is kept, grouped by trace, so an output can
 * be walked back through `parents` to the inputs, nodes and model versions that
 * made it. Bounded: a ring of the most recent messages.
 */
import type { Message } from "./envelope";

export interface TraceNode {
  id: string;
  node: string;
  port: string;
  ts: number;
  model?: { name: string; version: string | number };
  payload: unknown;
  parents: TraceNode[];
}

export class TraceStore {
  // Only a ring: recording is one array write on the hot path; a trace is found by
  // scanning the ring, which is rare (a person asking) and takes well under a millisecond.
  private readonly ring: (Message | undefined)[];
  private next = 0;

  constructor(private readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  record(message: Message): void {
    if (this.capacity === 0) return;
    this.ring[this.next] = message;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
  }

  /** The trace's messages still held, in emission order. */
  messages(traceId: string): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const m = this.ring[(this.next + i) % this.capacity];
      if (m?.traceId === traceId) out.push(m);
    }
    return out;
  }

  /**
   * The trees behind a trace's outputs (messages no other message in the trace
   * consumed). Parents from other traces (a batch, a join) are looked up too.
   */
  tree(traceId: string): TraceNode[] {
    const all = this.messages(traceId);
    const byId = new Map(all.map((m) => [m.id, m]));
    const find = (id: string): Message | undefined => byId.get(id) ?? this.ring.find((m) => m?.id === id);
    const consumed = new Set(all.flatMap((m) => m.parents));
    const build = (m: Message, seen: Set<string>): TraceNode => ({
      id: m.id,
      node: m.source.node,
      port: m.source.port,
      ts: m.ts,
      model: m.source.model,
      payload: m.payload,
      parents: m.parents
        .filter((p) => !seen.has(p))
        .map(find)
        .filter((p): p is Message => p !== undefined)
        .map((p) => build(p, new Set([...seen, p.id]))),
    });
    return all.filter((m) => !consumed.has(m.id)).map((m) => build(m, new Set([m.id])));
  }
}
