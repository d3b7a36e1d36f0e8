/**
 * Numeric tensors as raw bytes: row-major, little-endian (as numpy's `tobytes()` on every
 * machine Evoflow runs on, and the Open Inference Protocol's binary extension), with the
 * dtype and shape said beside them. Used by the agent's binary requests and by connectors
 * whose messages carry tensors.
 */
import type { DType, Tensor } from "./ports";

export type NumericDType = Exclude<DType, "string">;
type NumericArrayCtor = new (buffer: ArrayBuffer | number, byteOffset?: number, length?: number) => Exclude<Tensor["data"], string[]>;

export const TYPED_ARRAY: Record<NumericDType, NumericArrayCtor & { BYTES_PER_ELEMENT: number }> = {
  bool: Uint8Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, float32: Float32Array, float64: Float64Array,
};

/**
 * A tensor from its raw bytes; one dimension of `shape` may be -1, to be as long as the bytes
 * make it. Throws an Error saying what does not fit.
 */
export function tensorFromBytes(dtype: NumericDType, shape: readonly number[], bytes: Uint8Array): Tensor {
  const ctor = TYPED_ARRAY[dtype];
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0) throw new Error(`${bytes.length} bytes are not a whole number of ${dtype} elements (${size} bytes each)`);
  const count = bytes.length / size;
  const free = shape.indexOf(-1);
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  let resolved = [...shape];
  if (free >= 0) {
    if (known === 0 || count % known !== 0) throw new Error(`${count} ${dtype} elements do not fill shape [${shape}]`);
    resolved = shape.map((d) => (d === -1 ? count / known : d));
  } else if (known !== count) throw new Error(`${count} ${dtype} elements (${bytes.length} bytes), shape [${shape}] needs ${known}`);
  // Copied into a fresh buffer: the message's bytes may sit at an offset misaligned for the element size.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return { dtype, shape: resolved, data: new ctor(copy.buffer, 0, count) };
}

/** The raw bytes of a numeric tensor (a view, not a copy). */
export function numericTensorBytes(t: Tensor): Uint8Array {
  if (t.dtype === "string") throw new Error("a string tensor has no raw numeric bytes");
  const data = t.data as Exclude<Tensor["data"], string[]>;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
