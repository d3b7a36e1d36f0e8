/**
 * Provenance: every emitted message is kept, grouped by trace, so an output can
 * be walked back through `parents` to the inputs, nodes and model versions that
 * made it. Bounded: the most recent `capacity` messages.
 *
 * A message is kept as the object it is, which costs one array write. One whose
 * payload carries binary data (typed arrays, where runtime/binary-payload.ts looks)
 * is written into a few large byte chunks, at most `bytes` of them: the typed arrays'
 * bytes copied as they are when it is recorded, and the rest of the message encoded
 * (CBOR, the nats transport's codec), with each typed array replaced by where its bytes
 * are, at the next turn of the event loop.
 * - Not kept as objects: 10,000 such messages held 100 MB or more, their backing
 *   stores outside the heap, each freed only by a major collection once its message
 *   was promoted. Even without the typed arrays, the kept objects (~450 bytes a
 *   message, 4.6 MB for 10,000) are all promoted and die in the old generation.
 * - Not encoded whole: a tensor request's two messages encoded whole (after the reply)
 *   cost ~7 µs a request in process, the encoding and the model run after it slowed;
 *   written this way, ~4 µs (the sync-path bench's pipeline with and without a trace,
 *   20,000 requests injected, 3 alternating runs each).
 * - Encoded a turn later: the encoding is most of a message's cost (~1.9 µs of ~2.1 for
 *   a 784-float tensor), and this keeps it off the path of the request that made the
 *   message. A timer, not an immediate: onnxruntime-node runs a session from an
 *   immediate, so one queued while a request is handled would run before its model and
 *   its reply. Reads encode what is waiting first. In three A/B runs of the sync-path
 *   bench's servers at 1 client (turns, 30 s each), this took p50 from 1.10–1.17× the
 *   bare server's to 1.04–1.06×, at the same CPU per request.
 * The trace shows a payload as it was emitted: the bytes are copied at once.
 */
import { addExtension } from "cbor-x";
import { mapLeaves } from "./binary-payload";
import type { Message } from "./envelope";
import { stringHash } from "./random";
import { decode, encode } from "./transport/nats-codec";
import type { TraceNode } from "../sdk/api-types";

export type { TraceNode };

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
  // A message with binary data waiting for its encoding is held there without its typed arrays (`unencoded`).
  private readonly slotMessage: (Message | undefined)[];
  private readonly slotGeneration: Int32Array;
  private readonly slotOffset: Int32Array;
  private readonly slotLength: Int32Array;
  private readonly slotBinaryGeneration: Int32Array;
  private readonly slotBinaryOffset: Int32Array;
  private readonly slotBinaryBytes: Int32Array;
  // Hashes of a written message's trace and id, so a read decodes only the messages that may match.
  private readonly slotTrace: Uint32Array;
  private readonly slotId: Uint32Array;
  private next = 0;
  private count = 0;
  // Messages whose bytes are copied and whose encoding waits for the timer, and their slots.
  private readonly unencoded: Message[] = [];
  private readonly unencodedSlots: number[] = [];
  private encodeTimer?: NodeJS.Timeout;

  constructor(private readonly capacity: number, bytes = DEFAULT_TRACE_BYTES) {
    this.chunkBytes = Math.min(MAX_CHUNK_BYTES, Math.floor(bytes / MIN_CHUNKS));
    this.chunks = new Array(Math.max(MIN_CHUNKS, Math.floor(bytes / this.chunkBytes)));
    this.offset = this.chunkBytes;
    this.slotMessage = new Array(capacity);
    this.slotGeneration = new Int32Array(capacity);
    this.slotOffset = new Int32Array(capacity);
    this.slotLength = new Int32Array(capacity);
    this.slotBinaryGeneration = new Int32Array(capacity);
    this.slotBinaryOffset = new Int32Array(capacity);
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
    if (binaryBytes > 0) this.copyBinary(slot, message);
    else this.slotMessage[slot] = message;
  }

  /** Copies a message's typed arrays into the current chunk, and holds the rest of it for the timer to encode. */
  private copyBinary(slot: number, message: Message): void {
    const views: View[] = [];
    let heldBytes = 0;
    const payload = mapLeaves(message.payload, isView, (v) => {
      views.push(v);
      const held = new HeldView(v.constructor as ViewType, heldBytes, v.byteLength);
      heldBytes += aligned(v.byteLength);
      return held;
    });
    if (heldBytes > this.chunkBytes) {
      this.slotMessage[slot] = this.unrecorded(message, `${heldBytes} bytes, over the trace's limit of ${this.chunkBytes} per message`);
      return;
    }
    // Leaving a chunk, what waits for its encoding is written first, so a burst of messages cannot push its own bytes out.
    if (this.offset + heldBytes > this.chunkBytes && this.unencoded.length > 0) this.encodeWaiting();
    const binaryAt = this.reserve(heldBytes);
    const chunk = this.chunks[this.generation % this.chunks.length]!;
    for (let i = 0, at = binaryAt; i < views.length; at += aligned(views[i].byteLength), i++) copyInto(chunk, at, views[i]);
    this.slotBinaryGeneration[slot] = this.generation;
    this.slotBinaryOffset[slot] = binaryAt;
    this.slotBinaryBytes[slot] = heldBytes;
    const rest = { ...message, payload };
    this.slotMessage[slot] = rest;
    this.unencoded.push(rest);
    this.unencodedSlots.push(slot);
    this.encodeTimer ??= setTimeout(this.encodeWaiting, 0).unref();
  }

  private readonly encodeWaiting = (): void => {
    clearTimeout(this.encodeTimer);
    this.encodeTimer = undefined;
    for (let i = 0; i < this.unencoded.length; i++) {
      // Not if the ring has come round to the slot since.
      if (this.slotMessage[this.unencodedSlots[i]] === this.unencoded[i]) this.encode(this.unencodedSlots[i], this.unencoded[i]);
    }
    this.unencoded.length = 0;
    this.unencodedSlots.length = 0;
  };

  /** Writes the encoding of a message whose typed arrays are already copied; one that cannot be encoded is kept with a note instead of its payload. */
  private encode(slot: number, rest: Message): void {
    let encoded: Uint8Array;
    try {
      encoded = encode(rest);
    } catch (err) {
      this.slotMessage[slot] = this.unrecorded(rest, (err as Error).message);
      return;
    }
    if (encoded.length > this.chunkBytes) {
      this.slotMessage[slot] = this.unrecorded(rest, `${encoded.length} bytes encoded, over the trace's limit of ${this.chunkBytes} per message`);
      return;
    }
    const at = this.reserve(encoded.length);
    this.chunks[this.generation % this.chunks.length]!.set(encoded, at);
    this.slotMessage[slot] = undefined;
    this.slotGeneration[slot] = this.generation;
    this.slotOffset[slot] = at;
    this.slotLength[slot] = encoded.length;
    this.slotTrace[slot] = stringHash(rest.traceId);
    this.slotId[slot] = stringHash(rest.id);
  }

  /** Where `bytes` go: in the current chunk, or at the start of the next (reused) one when they do not fit. */
  private reserve(bytes: number): number {
    if (this.offset + bytes > this.chunkBytes) {
      this.generation++;
      this.offset = 0;
    }
    this.chunks[this.generation % this.chunks.length] ??= new Uint8Array(this.chunkBytes);
    const at = this.offset;
    this.offset += aligned(bytes);
    return at;
  }

  private unrecorded(message: Message, reason: string): Message {
    return { ...message, payload: { unrecorded: `payload not kept: ${reason}` } };
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
    if (this.unencoded.length > 0) this.encodeWaiting();
    const out: Message[] = [];
    const oldestGeneration = this.generation - this.chunks.length + 1;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.next - this.count + i + this.capacity) % this.capacity;
      const kept = this.slotMessage[slot];
      if (kept) {
        if (match(kept)) out.push(kept);
        continue;
      }
      // Its bytes were written before its encoding, so gone first.
      if (keys[slot] !== key || this.slotBinaryGeneration[slot] < oldestGeneration) continue;
      const chunk = this.chunks[this.slotGeneration[slot] % this.chunks.length]!;
      const at = this.slotOffset[slot];
      const written = decode(chunk.subarray(at, at + this.slotLength[slot])) as Message;
      if (!match(written)) continue;
      const binary = this.chunks[this.slotBinaryGeneration[slot] % this.chunks.length]!;
      const binaryAt = this.slotBinaryOffset[slot];
      out.push({ ...written, payload: mapLeaves(written.payload, isHeld, (held) => restoreView(held, binary, binaryAt, this.slotBinaryBytes[slot])) });
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
