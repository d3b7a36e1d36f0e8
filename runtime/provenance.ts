/**
 * Provenance: every emitted message is kept, grouped by trace, so an output can
 * be walked back through `parents` to the inputs, nodes and model versions that
 * made it. Bounded: a ring of the most recent messages; when it wraps, the oldest
 * message leaves its trace (traces are in emission order, so it is the first).
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
  private readonly traces = new Map<string, Message[]>();
  private readonly ring: (Message | undefined)[];
  private next = 0;

  constructor(private readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  record(message: Message): void {
    if (this.capacity === 0) return;
    const old = this.ring[this.next];
    if (old) {
      const list = this.traces.get(old.traceId);
      if (list) {
        list.shift();
        if (list.length === 0) this.traces.delete(old.traceId);
      }
    }
    this.ring[this.next] = message;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    const list = this.traces.get(message.traceId);
    if (list) list.push(message);
    else this.traces.set(message.traceId, [message]);
  }

  messages(traceId: string): Message[] {
    return this.traces.get(traceId) ?? [];
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
