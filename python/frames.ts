/**
 * The Python workers' wire format, both ways over a pipe (python/worker.py reads and writes the
 * same): a message is a 4-byte little-endian length, that many bytes of UTF-8 JSON (the header),
 * then the raw buffers the header's `buffers` lists the byte lengths of, in order. In the JSON a
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

/** A header (JSON-able fields) and the payload under `payload`, as the chunks to write, in order. */
export function encodeMessage(header: Record<string, unknown>, payload?: unknown): Buffer[] {
  const buffers: Buffer[] = [];
  const json = payload === undefined ? header : { ...header, payload: toWire(payload, buffers) };
  const head = Buffer.from(JSON.stringify({ ...json, buffers: buffers.map((b) => b.byteLength) }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(head.byteLength);
  return [length, head, ...buffers];
}

function toWire(v: unknown, buffers: Buffer[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (isTensor(v)) {
    const i = buffers.push(v.dtype === "string" ? stringsToBytes(v.data as string[]) : viewBytes(v.data as ArrayBufferView)) - 1;
    return { [MARK]: "tensor", i, dtype: v.dtype, shape: v.shape };
  }
  if (ArrayBuffer.isView(v)) return { [MARK]: "bytes", i: buffers.push(viewBytes(v)) - 1 };
  if (Array.isArray(v)) return v.map((x) => toWire(x, buffers));
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
  private header?: Record<string, unknown>;
  private needed = 4;
  private stage: "length" | "header" | "buffers" = "length";

  constructor(private readonly onMessage: (message: DecodedMessage) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.available += chunk.byteLength;
    while (this.available >= this.needed) this.step();
  }

  private step(): void {
    if (this.stage === "length") {
      this.needed = this.take(4).readUInt32LE(0);
      this.stage = "header";
    } else if (this.stage === "header") {
      this.header = JSON.parse(this.take(this.needed).toString("utf8")) as Record<string, unknown>;
      this.needed = (this.header.buffers as number[]).reduce((a, b) => a + b, 0);
      this.stage = "buffers";
    } else {
      const header = this.header!;
      const buffers = (header.buffers as number[]).map((n) => this.take(n));
      this.stage = "length";
      this.needed = 4;
      this.header = undefined;
      this.onMessage({ header, payload: fromWire(header.payload, buffers) });
    }
  }

  /** The next n bytes, in a buffer of their own (so typed arrays over it are aligned). */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafeSlow(n);
    let filled = 0;
    while (filled < n) {
      const first = this.chunks[0];
      const count = Math.min(first.byteLength, n - filled);
      first.copy(out, filled, 0, count);
      filled += count;
      if (count === first.byteLength) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
    }
    this.available -= n;
    return out;
  }
}

function fromWire(v: unknown, buffers: Buffer[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => fromWire(x, buffers));
  const o = v as Record<string, unknown>;
  if (o[MARK] === "tensor") return wireTensor(o, buffers[o.i as number]);
  if (o[MARK] === "bytes") return new Uint8Array(buffers[o.i as number].buffer, buffers[o.i as number].byteOffset, buffers[o.i as number].byteLength);
  const out: Record<string, unknown> = {};
  for (const [key, x] of Object.entries(o)) out[key] = fromWire(x, buffers);
  return out;
}

function wireTensor(o: Record<string, unknown>, bytes: Buffer): Tensor {
  const dtype = o.dtype as DType;
  const shape = o.shape as number[];
  if (!DTYPES.includes(dtype)) throw new Error(`the Python worker sent a tensor of unknown dtype ${JSON.stringify(dtype)}`);
  if (dtype === "string") return { dtype, shape, data: bytesToStrings(bytes) };
  // `take` gave the bytes a buffer of their own, starting at 0: the typed array views them without a copy.
  const buffer = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : new Uint8Array(bytes).buffer;
  return { dtype, shape, data: new ARRAY_OF[dtype](buffer as ArrayBuffer) };
}
