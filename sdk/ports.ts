/**
 * Port types: what may travel on a port. One description serves the type checker
 * (edge compatibility at validate time), the engine (payload checks at run time,
 * failures go to the dead-letter stream) and the editor (handle colours, docs).
 */
import { z } from "zod";

export const DTYPES = ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "bool", "string"] as const;
export type DType = (typeof DTYPES)[number];

/** A tensor travels as a typed array (never a JSON number array), row-major. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | string[];
}

export type PortType =
  | { kind: "tensor"; dtype?: DType; shape?: number[] }
  | { kind: "record"; name?: string; schema?: z.ZodType }
  | { kind: "labelled" }
  | { kind: "prediction" }
  | { kind: "event"; event?: string }
  | { kind: "model" }
  | { kind: "metrics" }
  | { kind: "any" }
  /** The output carries whatever type arrives on the named input. */
  | { kind: "sameAs"; input: string };

export const port = {
  tensor: (opts: { dtype?: DType; shape?: number[] } = {}): PortType => ({ kind: "tensor", ...opts }),
  record: (name?: string, schema?: z.ZodType): PortType => ({ kind: "record", name, schema }),
  labelled: (): PortType => ({ kind: "labelled" }),
  prediction: (): PortType => ({ kind: "prediction" }),
  event: (event?: string): PortType => ({ kind: "event", event }),
  model: (): PortType => ({ kind: "model" }),
  metrics: (): PortType => ({ kind: "metrics" }),
  any: (): PortType => ({ kind: "any" }),
  sameAs: (input: string): PortType => ({ kind: "sameAs", input }),
};

export type Ports = Record<string, PortType>;

/** Short human form, used in error messages, `evoflow nodes` and the editor. */
export function describePortType(t: PortType): string {
  switch (t.kind) {
    case "tensor": {
      const parts = [t.dtype, t.shape ? `[${t.shape.join(",")}]` : undefined].filter(Boolean);
      return parts.length ? `tensor<${parts.join(" ")}>` : "tensor";
    }
    case "record":
      return t.name ? `record<${t.name}>` : "record";
    case "event":
      return t.event ? `event<${t.event}>` : "event";
    case "sameAs":
      return `sameAs(${t.input})`;
    default:
      return t.kind;
  }
}

/** JSON form of a port type (zod schemas become JSON Schema), for `evoflow nodes --json` and the editor. */
export function portTypeToJson(t: PortType): Record<string, unknown> {
  if (t.kind === "record" && t.schema) return { kind: t.kind, name: t.name, schema: z.toJSONSchema(t.schema, { unrepresentable: "any" }) };
  return { ...t };
}

function shapesCompatible(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

/**
 * Why an output of type `from` may not feed an input of type `to`, or undefined when it may.
 * `sameAs` must be resolved before calling this.
 */
export function incompatibility(from: PortType, to: PortType): string | undefined {
  if (from.kind === "any" || to.kind === "any") return undefined;
  if (from.kind !== to.kind) return `${describePortType(from)} cannot feed ${describePortType(to)}`;
  if (from.kind === "tensor" && to.kind === "tensor") {
    if (from.dtype && to.dtype && from.dtype !== to.dtype) return `dtype ${from.dtype} cannot feed dtype ${to.dtype}`;
    if (from.shape && to.shape && !shapesCompatible(from.shape, to.shape)) return `shape [${from.shape}] cannot feed shape [${to.shape}]`;
  }
  if (from.kind === "record" && to.kind === "record" && from.name && to.name && from.name !== to.name)
    return `record<${from.name}> cannot feed record<${to.name}>`;
  if (from.kind === "event" && to.kind === "event" && from.event && to.event && from.event !== to.event)
    return `event<${from.event}> cannot feed event<${to.event}>`;
  return undefined;
}

const TYPED_ARRAY_OF: Record<DType, new (n: number) => unknown> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, bool: Uint8Array, string: Array,
};

export function isTensor(v: unknown): v is Tensor {
  if (typeof v !== "object" || v === null) return false;
  const t = v as Tensor;
  // data an array or typed array: `{dtype, shape, data: null}` from a JSON body is no tensor (it crashed the port check).
  return typeof t.dtype === "string" && Array.isArray(t.shape) && (Array.isArray(t.data) || ArrayBuffer.isView(t.data)) && t.dtype in TYPED_ARRAY_OF;
}

export function tensor(dtype: DType, shape: number[], data: Tensor["data"]): Tensor {
  return { dtype, shape, data };
}

const labelledSchema = z.object({ x: z.unknown(), y: z.union([z.number(), z.string()]) }).loose();
const predictionSchema = z.object({ scores: z.unknown() }).loose();
const eventSchema = z.object({ kind: z.string(), reason: z.string().optional() }).loose();
const modelRefSchema = z.object({ name: z.string(), version: z.union([z.string(), z.number()]) }).loose();
const metricsSchema = z.record(z.string(), z.number());

/** Checks a payload at run time against a port type; returns the reason it fails, or undefined. */
export function payloadProblem(t: PortType, payload: unknown): string | undefined {
  switch (t.kind) {
    case "any":
    case "sameAs":
      return undefined;
    case "tensor": {
      if (!isTensor(payload)) return "expected a tensor {dtype, shape, data}";
      if (t.dtype && payload.dtype !== t.dtype) return `expected dtype ${t.dtype}, got ${payload.dtype}`;
      if (!payload.shape.every((d) => Number.isInteger(d) && d >= 0)) return `tensor shape [${payload.shape}] must hold non-negative integers`;
      const size = payload.shape.reduce((a, b) => a * b, 1);
      if (payload.data.length !== size) return `tensor data has ${payload.data.length} elements, shape [${payload.shape}] needs ${size}`;
      if (t.shape && !shapesCompatible(t.shape, payload.shape)) return `expected shape [${t.shape}], got [${payload.shape}]`;
      return undefined;
    }
    case "record": {
      if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return "expected a record (object)";
      if (!t.schema) return undefined;
      const r = t.schema.safeParse(payload);
      return r.success ? undefined : r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    }
    case "labelled":
      return zodProblem(labelledSchema, payload);
    case "prediction":
      return zodProblem(predictionSchema, payload);
    case "event": {
      const p = zodProblem(eventSchema, payload);
      if (p) return p;
      const kind = (payload as { kind: string }).kind;
      return t.event && kind !== t.event ? `expected event ${t.event}, got ${kind}` : undefined;
    }
    case "model":
      return zodProblem(modelRefSchema, payload);
    case "metrics":
      return zodProblem(metricsSchema, payload);
  }
}

function zodProblem(schema: z.ZodType, payload: unknown): string | undefined {
  const r = schema.safeParse(payload);
  return r.success ? undefined : r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}
