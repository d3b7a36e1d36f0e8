/**
 * Provenance: every emitted message is kept, grouped by trace, so an output can
 * be walked back through `parents` to the inputs, nodes and model versions that
 * made it. Bounded: the most recent `capacity` messages.
 *
 * A message is kept as the object it is, which costs one array write. One whose
 * payload carries binary data (typed arrays, where runtime/binary-payload.ts looks)
 * is written, when it is recorded, into a few large byte chunks, at most `bytes` of
 * them: the typed arrays' bytes copied as they are, and the rest of the message
 * encoded (CBOR, the nats transport's codec) with each typed array replaced by where
 * its bytes are.
 * - Not kept as objects: 10,000 such messages held 100 MB or more, their backing
 *   stores outside the heap, each freed only by a major collection once its message
 *   was promoted. Even without the typed arrays, the kept objects (~450 bytes a
 *   message, 4.6 MB for 10,000) are all promoted and die in the old generation.
 * - Not encoded whole: a tensor request's two messages encoded whole (after the reply)
 *   cost ~7 µs a request in process, the encoding and the model run after it slowed;
 *   written this way, ~4 µs (the sync-path bench's pipeline with and without a trace,
 *   20,000 requests injected, 3 alternating runs each).
 * The trace shows a payload as it was emitted.
 */
import { addExtension } from "cbor-x";
import { mapLeaves } from "./binary-payload";
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

type View = ArrayBufferView;
type ViewType = new (buffer: ArrayBuffer) => View;
const VIEW_TYPES = [
  Float32Array, Float64Array, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array, DataView, Buffer,
] as unknown as ViewType[];

/** A typed array in a kept message: its type, and where its bytes are after the message's encoding. */
class HeldView {
  constructor(
    readonly type: ViewType,
    readonly offset: number,
    readonly byteLength: number,
  ) {}
}
// A private CBOR tag (unassigned by IANA). cbor-x registers extensions for all its encoders.
addExtension({
  Class: HeldView,
  tag: 40500,
  encode: (held: HeldView, encodeValue: (value: unknown) => Uint8Array) => encodeValue([VIEW_TYPES.indexOf(held.type), held.offset, held.byteLength]),
  decode: ([type, offset, byteLength]: [number, number, number]) => new HeldView(VIEW_TYPES[type], offset, byteLength),
});

/** Typed arrays start at multiples of 8 bytes, so each can be copied in with a view of its own type. */
const aligned = (n: number) => (n + 7) & ~7;
const isView = (v: unknown): v is View => ArrayBuffer.isView(v);
const isHeld = (v: unknown): v is HeldView => v instanceof HeldView;

/** Copies a typed array's bytes into `chunk` at `offset` (a multiple of 8), without asking for its buffer (which V8 would make for an array kept in the heap). */
function copyInto(chunk: Uint8Array, offset: number, v: View): void {
  if (v instanceof DataView) chunk.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
  // Bytes as bytes: a Buffer's own constructor is deprecated (and warns).
  else if (v instanceof Uint8Array) chunk.set(v, offset);
  else {
    const Type = v.constructor as new (buffer: ArrayBufferLike, offset: number, length: number) => Float32Array;
    new Type(chunk.buffer, chunk.byteOffset + offset, (v as Float32Array).length).set(v as Float32Array);
  }
}

/**
 * A fresh typed array of the held type over a copy of its bytes. The CBOR tag is known to
 * every decoder of the process, so a message from NATS may carry a held view of its own:
 * one that is not within its message's binary data (or not whole elements) stays as it is.
 */
function restoreView(held: HeldView, chunk: Uint8Array, base: number, heldBytes: number): View | HeldView {
  const elementBytes = (held.type as { BYTES_PER_ELEMENT?: number } | undefined)?.BYTES_PER_ELEMENT ?? 1;
  if (!held.type || !(held.offset >= 0 && held.offset + held.byteLength <= heldBytes && held.byteLength % elementBytes === 0)) return held;
  const buffer = chunk.slice(base + held.offset, base + held.offset + held.byteLength).buffer;
  // Buffer's own constructor is deprecated; the others take the bytes as they are.
  return (held.type as unknown) === Buffer ? Buffer.from(buffer) : new held.type(buffer);
}

export class TraceStore {
  /** Chunks by generation modulo their count: a chunk is reused, and its messages forgotten, once the budget is spent. */
  private readonly chunks: (Uint8Array | undefined)[];
  /** Also the most one message may take. */
  private readonly chunkBytes: number;
  private generation = -1;
  private offset: number;
  // One slot per kept message, a ring of `capacity`: the message itself, or where it was written.
  private readonly slotMessage: (Message | undefined)[];
  private readonly slotGeneration: Int32Array;
  private readonly slotOffset: Int32Array;
  private readonly slotLength: Int32Array;
  private readonly slotBinaryBytes: Int32Array;
  // Hashes of a written message's trace and id, so a read decodes only the messages that may match.
  private readonly slotTrace: Uint32Array;
  private readonly slotId: Uint32Array;
  private next = 0;
  private count = 0;

  constructor(private readonly capacity: number, bytes = DEFAULT_TRACE_BYTES) {
    this.chunkBytes = Math.min(MAX_CHUNK_BYTES, Math.floor(bytes / MIN_CHUNKS));
    this.chunks = new Array(Math.max(MIN_CHUNKS, Math.floor(bytes / this.chunkBytes)));
    this.offset = this.chunkBytes;
    this.slotMessage = new Array(capacity);
    this.slotGeneration = new Int32Array(capacity);
    this.slotOffset = new Int32Array(capacity);
    this.slotLength = new Int32Array(capacity);
    this.slotBinaryBytes = new Int32Array(capacity);
    this.slotTrace = new Uint32Array(capacity);
    this.slotId = new Uint32Array(capacity);
  }

  /** `binaryBytes`: of its payload (runtime/binary-payload.ts), which the engine weighs once for taps and traces. */
  record(message: Message, binaryBytes: number): void {
    if (this.capacity === 0) return;
    const slot = this.next;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.count < this.capacity) this.count++;
    this.slotMessage[slot] = message;
    if (binaryBytes > 0) this.write(slot, message);
  }

  /** Writes a message with binary data into the current chunk (a fresh one when it does not fit); one that cannot be written is kept with a note instead of its payload. */
  private write(slot: number, message: Message): void {
    const views: View[] = [];
    let heldBytes = 0;
    const payload = mapLeaves(message.payload, isView, (v) => {
      views.push(v);
      const held = new HeldView(v.constructor as ViewType, heldBytes, v.byteLength);
      heldBytes += aligned(v.byteLength);
      return held;
    });
    let encoded: Uint8Array;
    try {
      encoded = encode({ ...message, payload });
    } catch (err) {
      this.slotMessage[slot] = { ...message, payload: { unrecorded: `payload not kept: ${(err as Error).message}` } };
      return;
    }
    const bytes = aligned(encoded.length) + heldBytes;
    if (bytes > this.chunkBytes) {
      this.slotMessage[slot] = { ...message, payload: { unrecorded: `payload not kept: ${bytes} bytes, over the trace's limit of ${this.chunkBytes} per message` } };
      return;
    }
    if (this.offset + bytes > this.chunkBytes) {
      this.generation++;
      this.offset = 0;
    }
    const chunk = (this.chunks[this.generation % this.chunks.length] ??= new Uint8Array(this.chunkBytes));
    chunk.set(encoded, this.offset);
    const binaryAt = this.offset + aligned(encoded.length);
    for (let i = 0, at = binaryAt; i < views.length; at += aligned(views[i].byteLength), i++) copyInto(chunk, at, views[i]);
    this.slotMessage[slot] = undefined;
    this.slotGeneration[slot] = this.generation;
    this.slotOffset[slot] = this.offset;
    this.slotLength[slot] = encoded.length;
    this.slotBinaryBytes[slot] = heldBytes;
    this.slotTrace[slot] = stringHash(message.traceId);
    this.slotId[slot] = stringHash(message.id);
    this.offset += bytes;
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

  /**
   * The held messages that match, oldest first. A written one is decoded only when its
   * `keys` entry (the stringHash of its trace or id) is `key`, its typed arrays copied out
   * only when it matches; it is gone once its chunk is reused.
   */
  private scan(match: (m: Message) => boolean, keys: Uint32Array, key: number): Message[] {
    const out: Message[] = [];
    const oldestGeneration = this.generation - this.chunks.length + 1;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.next - this.count + i + this.capacity) % this.capacity;
      const kept = this.slotMessage[slot];
      if (kept) {
        if (match(kept)) out.push(kept);
        continue;
      }
      if (keys[slot] !== key || this.slotGeneration[slot] < oldestGeneration) continue;
      const chunk = this.chunks[this.slotGeneration[slot] % this.chunks.length]!;
      const at = this.slotOffset[slot];
      const written = decode(chunk.subarray(at, at + this.slotLength[slot])) as Message;
      if (!match(written)) continue;
      const binaryAt = at + aligned(this.slotLength[slot]);
      out.push({ ...written, payload: mapLeaves(written.payload, isHeld, (held) => restoreView(held, chunk, binaryAt, this.slotBinaryBytes[slot])) });
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
