/**
 * Provenance: every emitted message is kept, grouped by trace, so an output can
 * be walked back through `parents` to the inputs, nodes and model versions that
 * made it. Bounded: the oldest traces are forgotten first.
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
  private size = 0;

  constructor(private readonly maxMessages: number) {}

  record(message: Message): void {
    if (this.maxMessages === 0) return;
    const list = this.traces.get(message.traceId);
    if (list) list.push(message);
    else this.traces.set(message.traceId, [message]);
    if (++this.size > this.maxMessages) this.evictOldestTrace();
  }

  private evictOldestTrace(): void {
    const oldest = this.traces.keys().next().value;
    if (oldest === undefined) return;
    this.size -= this.traces.get(oldest)!.length;
    this.traces.delete(oldest);
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
    const find = (id: string): Message | undefined => byId.get(id) ?? this.findAnywhere(id);
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

  private findAnywhere(id: string): Message | undefined {
    for (const list of this.traces.values()) {
      const m = list.find((x) => x.id === id);
      if (m) return m;
    }
    return undefined;
  }
}
