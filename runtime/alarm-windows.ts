/**
 * Windows for upstream root-cause analysis (`evoflow rca`, nodes/drift/rca.ts). A drift
 * alarm compares a detector's window with data before it; to say where the shift entered
 * the pipeline, the same before/after comparison is needed on every edge upstream of the
 * detector, so the data before the alarm must still be there when it fires.
 *
 * - Kept only on edges upstream of a node with an `event<drift>` output (every edge on a
 *   path into a drift node), in a ring per edge of `settings.rca.capacity` messages (2048)
 *   and `settings.rca.bytes` of binary data (8 MiB). Not the tap rings: 256 messages hold
 *   less than one default window before and one after (500 each).
 * - The ring holds references, one array write per emit, as taps do: messages are immutable.
 * - When a node emits on an `event<drift>` port, that alarm is kept (the last
 *   `settings.rca.alarms`, 8) with a copy of the rings of the edges upstream of that node
 *   as they are at that moment: the windows no longer move for it, however late it is asked.
 *   Copies share messages with the rings, so the worst case is (alarms + 1) × edges × bytes.
 * - Each kept alarm also collects the next `settings.rca.after` messages (500) of those edges, or
 *   `bytes` of their binary data: a streaming detector (ADWIN, Page-Hinkley) fires a few values
 *   after a change, so the shifted data is what comes after its alarm.
 * - What a process emits: on the nats transport each process keeps its own nodes' edges.
 */
import type { AlarmSummary, DriftAlarm, RecordedEdge } from "../sdk/api-types";
import type { Message } from "./envelope";
import type { Pipeline } from "./schema";
import { Ring } from "../sdk/ring";
import type { EdgeInfo } from "./transport/transport";
import type { CompiledNode } from "./validate";

const DEFAULT_CAPACITY = 2048;
const DEFAULT_BYTES = 8 * 1024 * 1024;
const DEFAULT_ALARMS = 8;
const DEFAULT_AFTER = 500;

type Settings = NonNullable<Pipeline["settings"]>["rca"];

/** Whether a node's output port carries drift alarms. */
export function isAlarmPort(node: CompiledNode, port: string): boolean {
  const type = node.outputs[port];
  return type?.kind === "event" && type.event === "drift";
}

/** An edge's ring, and the alarms still collecting what comes after them. */
export class EdgeWindow {
  readonly ring: Ring<Message>;
  private collecting: { later: Message[]; count: number; bytes: number }[] = [];

  constructor(capacity: number, private readonly bytes: number) {
    this.ring = new Ring(capacity, bytes);
  }

  push(message: Message, binaryBytes: number): void {
    this.ring.push(message, binaryBytes);
    if (this.collecting.length === 0) return;
    for (const c of this.collecting) {
      c.later.push(message);
      c.count--;
      c.bytes -= binaryBytes;
    }
    this.collecting = this.collecting.filter((c) => c.count > 0 && c.bytes > 0);
  }

  /** Adds what this edge carries from now on to `later`, up to `count` messages. */
  collect(later: Message[], count: number): void {
    if (count > 0) this.collecting.push({ later, count, bytes: this.bytes });
  }
}

export class AlarmWindows {
  private readonly windows = new Map<string, EdgeWindow>();
  /** Per drift node: the edges upstream of it, nearest first. */
  private readonly upstream = new Map<string, EdgeInfo[]>();
  private readonly alarms: Ring<DriftAlarm>;
  private readonly after: number;

  constructor(
    private readonly pipeline: string,
    nodes: ReadonlyMap<string, CompiledNode>,
    edges: readonly EdgeInfo[],
    settings: Settings,
  ) {
    const capacity = settings?.capacity ?? DEFAULT_CAPACITY;
    this.alarms = new Ring(settings?.alarms ?? DEFAULT_ALARMS);
    this.after = settings?.after ?? DEFAULT_AFTER;
    if (capacity === 0) return;
    for (const node of nodes.values()) {
      if (!Object.keys(node.outputs).some((port) => isAlarmPort(node, port))) continue;
      const found = upstreamEdges(node.id, edges);
      this.upstream.set(node.id, found);
      for (const e of found) if (!this.windows.has(e.id)) this.windows.set(e.id, new EdgeWindow(capacity, settings?.bytes ?? DEFAULT_BYTES));
    }
  }

  /** The window of an edge upstream of a drift node, undefined for any other edge. */
  window(edge: string): EdgeWindow | undefined {
    return this.windows.get(edge);
  }

  /** Keeps an alarm a node emitted, with a copy of the windows upstream of it. */
  record(message: Message): void {
    const edges = this.upstream.get(message.source.node) ?? [];
    const recorded: RecordedEdge[] = edges.map((e) => {
      const window = this.windows.get(e.id)!;
      const messages = window.ring.toArray();
      const later: Message[] = [];
      window.collect(later, this.after);
      return { id: e.id, from: e.from, to: e.to, messages, older: window.ring.total - messages.length, later };
    });
    const event = message.payload as { reason?: unknown; detector?: unknown } | null;
    this.alarms.push({
      id: message.id,
      pipeline: this.pipeline,
      node: message.source.node,
      traceId: message.traceId,
      ts: message.ts,
      ...(typeof event?.reason === "string" && { reason: event.reason }),
      ...(typeof event?.detector === "string" && { detector: event.detector }),
      edges: edges.map((e) => e.id),
      event: message.payload,
      recorded,
    });
  }

  /** The alarms kept, oldest first. */
  list(): AlarmSummary[] {
    return this.alarms.toArray().map(({ event: _event, recorded: _recorded, ...summary }) => summary);
  }

  get(id: string): DriftAlarm | undefined {
    return this.alarms.toArray().find((a) => a.id === id);
  }
}

/** Every edge on a path into `node`, breadth first (nearest first); a cycle is walked once. */
function upstreamEdges(node: string, edges: readonly EdgeInfo[]): EdgeInfo[] {
  const found: EdgeInfo[] = [];
  const seen = new Set<string>([node]);
  const queue = [node];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const e of edges) {
      if (e.to.node !== at || found.includes(e)) continue;
      found.push(e);
      if (!seen.has(e.from.node)) {
        seen.add(e.from.node);
        queue.push(e.from.node);
      }
    }
  }
  return found;
}
