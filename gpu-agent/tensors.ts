/**
 * Tensors at the agent's edges: Open Inference Protocol (KServe v2) datatypes and
 * data (JSON, flat or nested, and the binary tensor extension) to and from the
 * runtime's `Tensor` (typed arrays, row-major), and checks of a request against a
 * model's signature. Shared by the runtime's `/v2` routes, the standalone agent's
 * server and the Triton backend's client.
 */
import type { TensorSpec } from "../sdk/models";
import type { DType, Tensor } from "../sdk/ports";
import { numericTensorBytes, tensorFromBytes, TYPED_ARRAY } from "../sdk/tensor-bytes";
import { JsonNumbers } from "./v2-json";

/** A request that does not fit the model (bad datatype, shape, data): the caller's fault, HTTP 400. */
export class TensorInputError extends Error {
  override name = "TensorInputError";
}

/** V2 datatype of each Evoflow dtype; FP16 and UINT64 have no typed array here, so they are refused with a clear error. */
export const V2_DATATYPE: Record<DType, string> = {
  bool: "BOOL", uint8: "UINT8", uint16: "UINT16", uint32: "UINT32", int8: "INT8", int16: "INT16", int32: "INT32", int64: "INT64",
  float32: "FP32", float64: "FP64", string: "BYTES",
};
const DTYPE_OF_V2 = new Map(Object.entries(V2_DATATYPE).map(([d, v]) => [v, d as DType]));

export function dtypeOfV2(datatype: string): DType {
  const dtype = DTYPE_OF_V2.get(datatype);
  if (!dtype) {
    const known = [...DTYPE_OF_V2.keys()].join(", ");
    throw new TensorInputError(`datatype ${JSON.stringify(datatype)} is not supported (use one of ${known})`);
  }
  return dtype;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** One tensor as the v2 protocol carries it (JSON part). */
export interface V2Tensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown;
}

/** Dimensions a tensor may have (numpy 2 allows 64). */
const MAX_RANK = 64;
/**
 * Elements a tensor may have: 2^31 - 1, more than any request body the servers take
 * holds. A shape whose product is larger (or overflows 2^53) is refused before anything
 * is allocated or compared against it; so is a dimension beyond it next to a 0.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new TensorInputError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)?.slice(0, 100)}`);
  if (shape.length > MAX_RANK) throw new TensorInputError(`${where}: shape has ${shape.length} dimensions, at most ${MAX_RANK} are allowed`);
  let product = 1;
  for (const d of shape as number[]) {
    if (d > MAX_TENSOR_ELEMENTS) throw new TensorInputError(`${where}: dimension ${d} of shape [${shape}] is over the limit of ${MAX_TENSOR_ELEMENTS} elements`);
    product *= d;
    if (product > MAX_TENSOR_ELEMENTS) throw new TensorInputError(`${where}: shape [${shape}] has more than ${MAX_TENSOR_ELEMENTS} elements`);
  }
  return shape as number[];
}

/** The values each integer datatype holds; a value outside is refused rather than wrapped (300 is not UINT8 44). */
const INTEGER_RANGE: Partial<Record<DType, readonly [number, number]>> = {
  uint8: [0, 255], int8: [-128, 127], uint16: [0, 65_535], int16: [-32_768, 32_767], uint32: [0, 4_294_967_295], int32: [-2_147_483_648, 2_147_483_647],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// Module level, not a closure in tensorFromJson: tsx (esbuild keepNames) would wrap a named closure in __name() on every request.
function badElement(t: V2Tensor, flat: unknown[], i: number, where: string, expected: string): TensorInputError {
  const shown = JSON.stringify(flat[i]) ?? String(flat[i]);
  return new TensorInputError(`${where}: ${t.datatype} element ${i} is ${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown}, expected ${expected}`);
}

/** The number runs that make up flat or nested `data`, in order, if they are all it holds. */
function numberRuns(data: unknown, runs: JsonNumbers[] = []): JsonNumbers[] | undefined {
  if (data instanceof JsonNumbers) runs.push(data);
  else if (!Array.isArray(data) || data.length === 0) return undefined;
  else for (const row of data) if (!numberRuns(row, runs)) return undefined;
  return runs;
}

const isRows = (v: unknown): v is unknown[] | JsonNumbers => Array.isArray(v) || v instanceof JsonNumbers;

/** Flat data as it is, nested rows flattened; number runs read from a request give their numbers. */
function flatData(data: unknown[] | JsonNumbers): unknown[] {
  if (data instanceof JsonNumbers) return data.numbers();
  if (data.length === 0 || !isRows(data[0])) return data;
  return data.flatMap((row) => (isRows(row) ? flatData(row) : [row]));
}

/**
 * Builds a Tensor from a v2 JSON tensor whose `data` is flat or nested, given as
 * JSON.parse gives it or with number runs from `parseInferRequestJson`.
 */
export function tensorFromJson(t: V2Tensor, where: string): Tensor {
  const shape = checkShape(t.shape, where);
  const dtype = dtypeOfV2(t.datatype);
  if (!Array.isArray(t.data) && !(t.data instanceof JsonNumbers))
    throw new TensorInputError(`${where}: data must be an array (or send it binary with parameters.binary_data_size)`);
  const count = elementCount(shape);
  const runs = dtype === "float32" || dtype === "float64" ? numberRuns(t.data) : undefined;
  if (runs) {
    const length = runs.reduce((n, r) => n + r.length, 0);
    if (length !== count) throw new TensorInputError(`${where}: data has ${length} elements, shape [${shape}] needs ${count}`);
    const out = dtype === "float32" ? new Float32Array(count) : new Float64Array(count);
    let at = 0;
    for (const run of runs) {
      run.readInto(out, at);
      at += run.length;
    }
    return { dtype, shape, data: out };
  }
  const flat = flatData(t.data);
  if (flat.length !== count) throw new TensorInputError(`${where}: data has ${flat.length} elements, shape [${shape}] needs ${count}`);
  if (dtype === "string") {
    if (!flat.every((v) => typeof v === "string")) throw new TensorInputError(`${where}: BYTES data must be strings`);
    return { dtype, shape, data: flat as string[] };
  }
  const data = new TYPED_ARRAY[dtype](count);
  // One loop per kind of element, so the hot float case checks nothing but the type.
  if (dtype === "bool") {
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== "boolean" && v !== 0 && v !== 1) throw badElement(t, flat, i, where, "true or false");
      data[i] = v ? 1 : 0;
    }
  } else if (dtype === "int64") {
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (!(Number.isInteger(v) || (typeof v === "string" && /^-?\d{1,20}$/.test(v)))) throw badElement(t, flat, i, where, "an integer");
      const big = BigInt(v as number | string);
      if (big < INT64_MIN || big > INT64_MAX) throw badElement(t, flat, i, where, "an integer within INT64's range");
      (data as BigInt64Array)[i] = big;
    }
  } else if (dtype === "float32" || dtype === "float64") {
    const out = data as Float32Array;
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== "number") throw badElement(t, flat, i, where, "a number");
      out[i] = v;
    }
  } else {
    const out = data as Int32Array;
    const [min, max] = INTEGER_RANGE[dtype]!;
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw badElement(t, flat, i, where, `an integer from ${min} to ${max}`);
      out[i] = v as number;
    }
  }
  return { dtype, shape, data };
}

/** Builds a Tensor from the raw little-endian bytes of the binary extension. */
export function tensorFromBinary(t: V2Tensor, bytes: Uint8Array, where: string): Tensor {
  const shape = checkShape(t.shape, where);
  const dtype = dtypeOfV2(t.datatype);
  const count = elementCount(shape);
  if (dtype === "string") {
    // BYTES: each element is a 4-byte little-endian length, then that many bytes.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: string[] = [];
    const decoder = new TextDecoder();
    let at = 0;
    while (at < bytes.length) {
      if (at + 4 > bytes.length) throw new TensorInputError(`${where}: truncated BYTES length prefix`);
      const len = view.getUint32(at, true);
      if (at + 4 + len > bytes.length) throw new TensorInputError(`${where}: BYTES element ${out.length} runs past the data`);
      out.push(decoder.decode(bytes.subarray(at + 4, at + 4 + len)));
      at += 4 + len;
    }
    if (out.length !== count) throw new TensorInputError(`${where}: binary data has ${out.length} BYTES elements, shape [${shape}] needs ${count}`);
    return { dtype, shape, data: out };
  }
  const needed = count * TYPED_ARRAY[dtype].BYTES_PER_ELEMENT;
  if (bytes.length !== needed) throw new TensorInputError(`${where}: binary_data_size is ${bytes.length} bytes, shape [${shape}] of ${t.datatype} needs ${needed}`);
  return tensorFromBytes(dtype, shape, bytes);
}

/** The raw bytes of a tensor for the binary extension. */
export function tensorBytes(t: Tensor): Uint8Array {
  if (t.dtype === "string") {
    const encoder = new TextEncoder();
    const parts = (t.data as string[]).map((s) => encoder.encode(s));
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
    const view = new DataView(out.buffer);
    let at = 0;
    for (const p of parts) {
      view.setUint32(at, p.length, true);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  return numericTensorBytes(t);
}

/** JSON data of a tensor, flat: BOOL as booleans, INT64 as numbers (strings beyond 2^53). */
export function tensorJsonData(t: Tensor): unknown[] {
  if (t.dtype === "string") return t.data as string[];
  if (t.dtype === "bool") return Array.from(t.data as Uint8Array, (v) => v !== 0);
  if (t.dtype === "int64") return Array.from(t.data as BigInt64Array, (v) => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString()));
  return Array.from(t.data as ArrayLike<number>);
}

/** A model's declared input or output, as the agent's metadata and checks use it. */
export type { TensorSpec } from "../sdk/models";

/** Why `t` cannot feed the declared input `spec`, or undefined. */
export function inputProblem(spec: TensorSpec, t: Tensor): string | undefined {
  if (t.dtype !== spec.dtype) return `input "${spec.name}" needs datatype ${V2_DATATYPE[spec.dtype]}, got ${V2_DATATYPE[t.dtype]}`;
  if (t.shape.length !== spec.shape.length || spec.shape.some((d, i) => d !== -1 && d !== t.shape[i]))
    return `input "${spec.name}" needs shape [${spec.shape}] (-1 is any size), got [${t.shape}]`;
  if (t.data.length !== elementCount(t.shape)) return `input "${spec.name}" has ${t.data.length} elements, shape [${t.shape}] needs ${elementCount(t.shape)}`;
  return undefined;
}

/** Checks a whole request against the declared inputs: every input present, none unknown, each one fitting. */
export function checkInputs(specs: readonly TensorSpec[], inputs: Record<string, Tensor>): void {
  const problems: string[] = [];
  for (const spec of specs) {
    const t = inputs[spec.name];
    if (!t) problems.push(`missing input "${spec.name}"`);
    else {
      const p = inputProblem(spec, t);
      if (p) problems.push(p);
    }
  }
  for (const name of Object.keys(inputs)) if (!specs.some((s) => s.name === name)) problems.push(`unknown input "${name}" (the model takes ${specs.map((s) => `"${s.name}"`).join(", ")})`);
  if (problems.length) throw new TensorInputError(problems.join("; "));
}
