/**
 * The Python workers' wire format, both ways over a pipe (python/worker.py reads and writes the
 * same): a message is the JSON header's byte length and the number of buffers (4-byte little
 * endian each), each buffer's byte length, the header (UTF-8 JSON, the payload under `payload`),
 * then the buffers, raw, in order. Lengths come first so neither side parses JSON to find where a
 * message ends, and one with no buffer is parsed with no hook at all. In the JSON a
 * tensor stands as `{"$evoflow": "tensor", "i": <buffer>, "dtype", "shape"}` and bytes as
 * `{"$evoflow": "bytes", "i": <buffer>}`: tensor data crosses as its own bytes (row-major, little
 * endian; strings as 4-byte lengths + UTF-8, as OIP's binary BYTES), never as JSON numbers, so a
 * value round-trips bit for bit (NaN payloads, -0) and numpy reads it without parsing.
 *
 * Why not cbor-x or msgpack: the Python side has only the standard library and numpy (Debian's
 * python3-msgpack is no dependency), and a raw buffer per tensor lets the worker read it straight
 * into a writable, aligned bytearray for np.frombuffer.
 */
import { DTYPES, isTensor, type DType, type Tensor } from "../sdk/ports";

const MARK = "$evoflow";

type NumericCtor = new (buffer: ArrayBuffer) => Exclude<Tensor["data"], string[]>;
const ARRAY_OF: Record<Exclude<DType, "string">, NumericCtor> = {
  bool: Uint8Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, float32: Float32Array, float64: Float64Array,
};

/**
 * A header (JSON-able fields) and the payload under `payload`, as the buffers to write in one
 * writev (the worker wakes once per message): the lengths and the header, then each tensor's or
 * bytes' own memory, not copied (a message is immutable once emitted, so it cannot change while
 * the write waits).
 */
export function encodeMessage(header: Record<string, unknown>, payload?: unknown): Buffer[] {
  const buffers: Buffer[] = [];
  // A payload with no tensor or bytes (most records) is stringified as it is, not copied first.
  const wire = carriesBinary(payload) ? toWire(payload, buffers) : payload;
  const json = JSON.stringify(wire === undefined ? header : { ...header, payload: wire });
  const start = 8 + 4 * buffers.length;
  const head = Buffer.allocUnsafe(start + Buffer.byteLength(json));
  head.writeUInt32LE(head.byteLength - start, 0);
  head.writeUInt32LE(buffers.length, 4);
  buffers.forEach((b, i) => head.writeUInt32LE(b.byteLength, 8 + 4 * i));
  head.write(json, start);
  return [head, ...buffers];
}

function carriesBinary(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (ArrayBuffer.isView(v) || isTensor(v)) return true;
  if (Array.isArray(v)) return v.some(carriesBinary);
  for (const key in v) if (carriesBinary((v as Record<string, unknown>)[key])) return true;
  return false;
}

function toWire(v: unknown, buffers: Buffer[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (isTensor(v)) {
    const i = buffers.push(v.dtype === "string" ? stringsToBytes(v.data as string[]) : viewBytes(v.data as ArrayBufferView)) - 1;
    return { [MARK]: "tensor", i, dtype: v.dtype, shape: v.shape };
  }
  if (ArrayBuffer.isView(v)) return { [MARK]: "bytes", i: buffers.push(viewBytes(v)) - 1 };
  if (Array.isArray(v)) return v.map((x) => toWire(x, buffers));
  // A Date and the like: JSON.stringify turns it into what it stands for.
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return v;
  const out: Record<string, unknown> = {};
  for (const [key, x] of Object.entries(v)) if (x !== undefined) out[key] = toWire(x, buffers);
  return out;
}

const viewBytes = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

function stringsToBytes(strings: readonly string[]): Buffer {
  const parts = strings.flatMap((s) => {
    const bytes = Buffer.from(s);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.byteLength);
    return [length, bytes];
  });
  return Buffer.concat(parts);
}

function bytesToStrings(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    const n = bytes.readUInt32LE(at);
    out.push(bytes.toString("utf8", at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

export interface DecodedMessage {
  header: Record<string, unknown>;
  payload: unknown;
}

/** Reads messages from a stream's chunks as they come, calling `onMessage` for each complete one. */
export class MessageReader {
  private chunks: Buffer[] = [];
  private available = 0;
  private headLength = 0;
  private sizes: number[] = [];
  private head?: Buffer;
  private needed = 8;
  private stage: "lengths" | "sizes" | "header" | "buffers" = "lengths";

  constructor(private readonly onMessage: (message: DecodedMessage) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.available += chunk.byteLength;
    while (this.available >= this.needed) this.step();
  }

  private step(): void {
    if (this.stage === "lengths") {
      const lengths = this.take(8);
      this.headLength = lengths.readUInt32LE(0);
      this.needed = 4 * lengths.readUInt32LE(4);
      this.stage = "sizes";
    } else if (this.stage === "sizes") {
      const sizes = this.take(this.needed);
      this.sizes = Array.from({ length: this.needed / 4 }, (_, i) => sizes.readUInt32LE(4 * i));
      this.needed = this.headLength;
      this.stage = "header";
    } else if (this.stage === "header") {
      this.head = this.take(this.needed);
      this.needed = this.sizes.reduce((a, b) => a + b, 0);
      this.stage = "buffers";
    } else {
      const buffers = this.sizes.map((n) => this.take(n, true));
      const text = this.head!.toString("utf8");
      this.stage = "lengths";
      this.needed = 8;
      this.head = undefined;
      const header = (buffers.length === 0 ? JSON.parse(text) : JSON.parse(text, (_key, v) => fromWire(v, buffers))) as Record<string, unknown>;
      this.onMessage({ header, payload: header.payload });
    }
  }

  /**
   * The next n bytes. `own`: in a buffer of their own, starting at 0 (so a typed array over it is
   * aligned and keeps no other message alive); else a view into the chunk when it holds them all.
   */
  private take(n: number, own = false): Buffer {
    this.available -= n;
    const first = this.chunks[0];
    if (!own && first && first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafeSlow(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const count = Math.min(chunk.byteLength, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (count === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    return out;
  }
}

/** JSON.parse's reviver: a marker object becomes its tensor or bytes. */
function fromWire(v: unknown, buffers: Buffer[]): unknown {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
  const o = v as Record<string, unknown>;
  if (o[MARK] === "tensor") return wireTensor(o, buffers[o.i as number]);
  if (o[MARK] === "bytes") {
    const b = buffers[o.i as number];
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  return v;
}

function wireTensor(o: Record<string, unknown>, bytes: Buffer): Tensor {
  const dtype = o.dtype as DType;
  const shape = o.shape as number[];
  if (!DTYPES.includes(dtype)) throw new Error(`the Python worker sent a tensor of unknown dtype ${JSON.stringify(dtype)}`);
  if (dtype === "string") return { dtype, shape, data: bytesToStrings(bytes) };
  // `take` gave the bytes a buffer of their own, starting at 0: the typed array views them without a copy.
  return { dtype, shape, data: new ARRAY_OF[dtype](bytes.buffer as ArrayBuffer) };
}
