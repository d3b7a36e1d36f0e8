/**
 * How a connector's message bytes become a payload (sources) and a payload becomes bytes (sinks),
 * declared once here and spread into every broker node's config: JSON, text, raw bytes, CSV lines
 * (csv-parse / csv-stringify, which know quoting, escapes and delimiters) and numeric tensors as
 * raw little-endian bytes with a declared dtype and shape (numpy's `tobytes()`), which arrive as
 * the runtime's tensor payload `{ dtype, shape, data: TypedArray }`.
 */
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { z } from "zod";
import { DTYPES, isTensor, numericTensorBytes, tensorFromBytes, type NumericDType } from "../../sdk";

const csvOptions = z
  .object({
    columns: z.array(z.string().min(1).max(256)).min(1).max(10_000).optional().describe("The names of a line's fields, in order: a line becomes a record; without them (and without header) a line becomes an array"),
    header: z.boolean().default(false).describe("The message's first line is a header: its names are the columns (skipped when columns are given); a sink writes one"),
    delimiter: z.string().min(1).max(8).default(",").describe("What separates fields, e.g. \",\", \";\" or \"\\t\""),
    numbers: z.boolean().default(true).describe("Fields that read as numbers become numbers (otherwise every field stays a string)"),
    batch: z.boolean().default(false).describe("A message holds several lines and its payload is the array of them; otherwise a message is one line"),
  })
  .strict();

const NUMERIC_DTYPES = DTYPES.filter((d): d is NumericDType => d !== "string") as [NumericDType, ...NumericDType[]];
const tensorOptions = z
  .object({
    dtype: z.enum(NUMERIC_DTYPES).default("float32").describe("The element type of the bytes"),
    shape: z
      .array(z.number().int().min(-1).max(2 ** 31 - 1))
      .min(1)
      .max(64)
      .refine((s) => s.filter((d) => d === -1).length <= 1, "at most one dimension may be -1")
      .default([-1])
      .describe("Row-major shape; one dimension may be -1, as long as the bytes make it (e.g. [-1, 4]: rows of 4)"),
  })
  .strict();

export type CsvOptions = z.output<typeof csvOptions>;
export type TensorOptions = z.output<typeof tensorOptions>;
export type Format = "json" | "text" | "bytes" | "csv" | "tensor";
export interface FormatConfig {
  format: Format;
  csv?: CsvOptions;
  tensor?: TensorOptions;
}

const FORMATS = ["json", "text", "bytes", "csv", "tensor"] as const;
const CSV_DEFAULTS = csvOptions.parse({});
const TENSOR_DEFAULTS = tensorOptions.parse({});
const optionFields = {
  csv: csvOptions.optional().describe("With format csv: the columns, delimiter, header, number casting and batching"),
  tensor: tensorOptions.optional().describe("With format tensor: the dtype and shape of the raw little-endian bytes (float32, [-1] by default)"),
};

/** A source's format: what its messages' bytes are; one that is not → a dead letter with the reason. */
export const decodeFields = {
  format: z
    .enum(FORMATS)
    .default("json")
    .describe("How a message's bytes become the payload: parsed JSON, a string, a Uint8Array, a CSV line as a record (or array), or a tensor from raw bytes; bytes that are not what it says go to the dead letters"),
  ...optionFields,
};

/** A sink's format: how a payload is written; a payload that cannot be → a dead letter with the reason. */
export const encodeFields = {
  format: z.enum(FORMATS).default("json").describe("JSON text, the string as it is, a Uint8Array's bytes, a record (or array) as a CSV line, or a tensor's raw little-endian bytes"),
  ...optionFields,
};

export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

const shown = (text: string) => JSON.stringify(text.slice(0, 200));

/** Bytes as the payload the format asks for; `where` names the message in the dead letter's reason. */
export function decode(bytes: Uint8Array, cfg: FormatConfig, where: string): Decoded {
  if (cfg.format === "bytes") return { ok: true, value: new Uint8Array(bytes) };
  if (cfg.format === "tensor") {
    const o = cfg.tensor ?? TENSOR_DEFAULTS;
    try {
      return { ok: true, value: tensorFromBytes(o.dtype, o.shape, bytes) };
    } catch (err) {
      return { ok: false, reason: `${where} is not a ${o.dtype} tensor of shape [${o.shape}]: ${(err as Error).message}` };
    }
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  if (cfg.format === "text") return { ok: true, value: text };
  if (cfg.format === "csv") return decodeCsv(text, cfg.csv ?? CSV_DEFAULTS, where);
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `${where} is not JSON (${(err as Error).message}): ${shown(text)}` };
  }
}

function decodeCsv(text: string, o: CsvOptions, where: string): Decoded {
  let rows: unknown[];
  try {
    rows = parse(text, {
      delimiter: o.delimiter,
      cast: o.numbers,
      columns: o.columns ?? o.header,
      from_line: o.header && o.columns ? 2 : 1,
      skip_empty_lines: true,
    });
  } catch (err) {
    return { ok: false, reason: `${where} is not CSV (${(err as Error).message}): ${shown(text)}` };
  }
  if (o.batch) return rows.length ? { ok: true, value: rows } : { ok: false, reason: `${where} holds no CSV line: ${shown(text)}` };
  if (rows.length !== 1) return { ok: false, reason: `${where} holds ${rows.length} CSV lines where one was expected (csv.batch takes several): ${shown(text)}` };
  return { ok: true, value: rows[0] };
}

/** A payload as bytes on the wire; throws (→ a dead letter) when it is not what the format writes. */
export function encode(payload: unknown, cfg: FormatConfig): Buffer {
  switch (cfg.format) {
    case "text":
      return Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
    case "bytes":
      if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      return Buffer.from(JSON.stringify(payload));
    case "csv":
      return encodeCsv(payload, cfg.csv ?? CSV_DEFAULTS);
    case "tensor":
      return encodeTensor(payload, cfg.tensor ?? TENSOR_DEFAULTS);
    default:
      return Buffer.from(JSON.stringify(payload));
  }
}

function encodeCsv(payload: unknown, o: CsvOptions): Buffer {
  const rows = o.batch ? payload : [payload];
  if (!Array.isArray(rows)) throw new Error(`csv.batch needs an array of records or arrays, got ${typeof payload}`);
  rows.forEach((row, i) => {
    if (typeof row !== "object" || row === null) throw new Error(`a CSV line is written from a record or an array; ${o.batch ? `element ${i} is` : "the payload is"} ${row === null ? "null" : typeof row}`);
  });
  // One message, its lines apart by "\n" with none after the last (a sensor's line, as it is sent).
  const text = stringify(rows as Record<string, unknown>[], { delimiter: o.delimiter, columns: o.columns, header: o.header, record_delimiter: "\n" });
  return Buffer.from(text.endsWith("\n") ? text.slice(0, -1) : text);
}

function encodeTensor(payload: unknown, o: TensorOptions): Buffer {
  if (!isTensor(payload)) throw new Error("format tensor needs a tensor payload {dtype, shape, data}");
  if (payload.dtype !== o.dtype) throw new Error(`format tensor is declared ${o.dtype}, the payload is ${payload.dtype}`);
  const fits = payload.shape.length === o.shape.length && o.shape.every((d, i) => d === -1 || d === payload.shape[i]);
  if (!fits) throw new Error(`format tensor is declared shape [${o.shape}], the payload is [${payload.shape}]`);
  const count = payload.shape.reduce((a, d) => a * d, 1);
  if (payload.data.length !== count) throw new Error(`the tensor's data has ${payload.data.length} elements, its shape [${payload.shape}] needs ${count}`);
  const bytes = numericTensorBytes(payload);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
