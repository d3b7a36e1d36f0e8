/**
 * Provenance: every emitted message is kept, grouped by trace, so an output can
 * be walked back through `parents` to the inputs, nodes and model versions that
 * made it. Bounded: the most recent `capacity` messages.
 *
 * A message is kept as the object it is, which costs one array write; but one
 * whose payload carries binary data (a tensor, an image) is kept encoded (CBOR, the
 * nats transport's codec) in a few large byte chunks, at most `bytes` of them.
 * Kept as objects, 10,000 such messages held 100 MB or more, and even a small tensor
 * kept whole is promoted to the old generation with its message (a major collection
 * frees it) while its backing store lives outside the heap. Messages without binary
 * data are not encoded: cbor-x takes about 1 µs per message, several times what
 * keeping the object costs the collector.
 *
 * Encoding is deferred to the second check phase of the event loop after the record,
 * so a sync request's reply (written when its model's run, itself a setImmediate in
 * onnxruntime-node, resolves) never waits for it; a read encodes what is pending first.
 * A trace therefore shows a payload as it was at the end of the event-loop turn that
 * emitted it.
 */
import type { Message } from "./envelope";
import { stringHash } from "./random";
import { decode, encode } from "./transport/nats-codec";

export interface TraceNode {
  id: string;
  node: string;
  port: string;
  ts: number;
  model?: { name: string; version: string | number };
  payload: unknown;
  parents: TraceNode[];
}

/** Bytes of encoded messages (those with binary payloads) a pipeline keeps for traces unless its settings say otherwise. */
export const DEFAULT_TRACE_BYTES = 4 * 1024 * 1024;
/** At least this many chunks, so reusing the oldest forgets at most an eighth of what is kept. */
const MIN_CHUNKS = 8;
const MAX_CHUNK_BYTES = 1024 * 1024;
/** Messages waiting to be encoded beyond this many are encoded at once, so a burst within one turn cannot hold many. */
const MAX_PENDING = 1024;

/** Whether the payload (or a field of a record payload, or a tensor's data) is binary data, kept encoded. */
function carriesBinary(payload: unknown): boolean {
  if (typeof payload !== "object" || payload === null) return false;
  if (ArrayBuffer.isView(payload)) return true;
  for (const key in payload) {
    const v = (payload as Record<string, unknown>)[key];
    if (ArrayBuffer.isView(v)) return true;
    if (typeof v === "object" && v !== null && ArrayBuffer.isView((v as { data?: unknown }).data)) return true;
  }
  return false;
}

export class TraceStore {
  /** Chunks by generation modulo their count: a chunk is reused, and its messages forgotten, once the budget is spent. */
  private readonly chunks: (Uint8Array | undefined)[];
  /** Also the largest message kept whole. */
  private readonly chunkBytes: number;
  private generation = -1;
  private offset: number;
  // One slot per kept message, a ring of `capacity`: the message itself, or where its bytes are.
  private readonly slotMessage: (Message | undefined)[];
  private readonly slotGeneration: Int32Array;
  private readonly slotOffset: Int32Array;
  private readonly slotLength: Int32Array;
  private readonly slotTrace: Uint32Array;
  private readonly slotId: Uint32Array;
  private next = 0;
  private count = 0;
  // Messages with binary payloads recorded and not yet encoded, and their slots.
  private pendingMessages: Message[] = [];
  private pendingSlots: number[] = [];
  private flushScheduled = false;

  constructor(private readonly capacity: number, bytes = DEFAULT_TRACE_BYTES) {
    this.chunkBytes = Math.min(MAX_CHUNK_BYTES, Math.floor(bytes / MIN_CHUNKS));
    this.chunks = new Array(Math.max(MIN_CHUNKS, Math.floor(bytes / this.chunkBytes)));
    this.offset = this.chunkBytes;
    this.slotMessage = new Array(capacity);
    this.slotGeneration = new Int32Array(capacity);
    this.slotOffset = new Int32Array(capacity);
    this.slotLength = new Int32Array(capacity);
    this.slotTrace = new Uint32Array(capacity);
    this.slotId = new Uint32Array(capacity);
  }

  record(message: Message): void {
    if (this.capacity === 0) return;
    const slot = this.next;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.count < this.capacity) this.count++;
    this.slotMessage[slot] = message;
    if (!carriesBinary(message.payload)) return;
    this.pendingMessages.push(message);
    this.pendingSlots.push(slot);
    if (this.pendingMessages.length >= MAX_PENDING) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNextTurn);
    }
  }

  // The first hop runs in this turn's check phase, possibly before the model run it would delay; the second in the next turn's.
  private readonly flushNextTurn = () => setImmediate(this.flushPending);
  private readonly flushPending = () => this.flush();

  /** Encodes the pending messages whose slots they still hold. */
  private flush(): void {
    this.flushScheduled = false;
    const messages = this.pendingMessages;
    const slots = this.pendingSlots;
    if (messages.length === 0) return;
    this.pendingMessages = [];
    this.pendingSlots = [];
    for (let i = 0; i < messages.length; i++) if (this.slotMessage[slots[i]] === messages[i]) this.store(slots[i], messages[i]);
  }

  private store(slot: number, message: Message): void {
    this.slotMessage[slot] = undefined;
    const bytes = this.encode(message);
    if (this.offset + bytes.length > this.chunkBytes) {
      this.generation++;
      this.offset = 0;
    }
    const at = this.generation % this.chunks.length;
    const chunk = (this.chunks[at] ??= new Uint8Array(this.chunkBytes));
    chunk.set(bytes, this.offset);
    this.slotGeneration[slot] = this.generation;
    this.slotOffset[slot] = this.offset;
    this.slotLength[slot] = bytes.length;
    this.slotTrace[slot] = stringHash(message.traceId);
    this.slotId[slot] = stringHash(message.id);
    this.offset += bytes.length;
  }

  /** The trace's messages still held, in emission order. */
  messages(traceId: string): Message[] {
    return this.scan((m) => m.traceId === traceId, this.slotTrace, stringHash(traceId));
  }

  /**
   * The trees behind a trace's outputs (messages no other message in the trace
   * consumed). Parents from other traces (a batch, a join) are looked up too.
   */
  tree(traceId: string): TraceNode[] {
    return traceTree(this.messages(traceId), (id) => this.scan((m) => m.id === id, this.slotId, stringHash(id))[0]);
  }

  /** Never throws: a payload CBOR cannot carry, or one too big for a chunk, is kept as a note saying so. */
  private encode(message: Message): Uint8Array {
    let note: string;
    try {
      const bytes = encode(message);
      if (bytes.length <= this.chunkBytes) return bytes;
      note = `payload not kept: ${bytes.length} bytes encoded, over the trace's limit of ${this.chunkBytes} per message`;
    } catch (err) {
      note = `payload not kept: ${(err as Error).message}`;
    }
    return encode({ ...message, payload: { unrecorded: note } });
  }

  /** The held messages that match, oldest first; an encoded one is decoded only when its `keys` entry (the stringHash of its trace or id) is `key`. */
  private scan(match: (m: Message) => boolean, keys: Uint32Array, key: number): Message[] {
    this.flush();
    const out: Message[] = [];
    const oldestGeneration = this.generation - this.chunks.length + 1;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.next - this.count + i + this.capacity) % this.capacity;
      let m = this.slotMessage[slot];
      if (!m) {
        if (keys[slot] !== key || this.slotGeneration[slot] < oldestGeneration) continue;
        const chunk = this.chunks[this.slotGeneration[slot] % this.chunks.length]!;
        m = decode(chunk.subarray(this.slotOffset[slot], this.slotOffset[slot] + this.slotLength[slot])) as Message;
      }
      if (match(m)) out.push(m);
    }
    return out;
  }
}

/** The trees behind the outputs among a trace's messages; `find` looks up parents from outside the list. */
export function traceTree(all: Message[], find: (id: string) => Message | undefined = () => undefined): TraceNode[] {
  const byId = new Map(all.map((m) => [m.id, m]));
  const lookup = (id: string): Message | undefined => byId.get(id) ?? find(id);
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
      .map(lookup)
      .filter((p): p is Message => p !== undefined)
      .map((p) => build(p, new Set([...seen, p.id]))),
  });
  return all.filter((m) => !consumed.has(m.id)).map((m) => build(m, new Set([m.id])));
}
