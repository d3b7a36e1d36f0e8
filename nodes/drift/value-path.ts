/**
 * Which value of a message a drift node watches: a simple path into the message
 * envelope, written with dots and optional brackets — `payload` (the payload is the
 * number), `payload.error`, `payload.x[3]`, `payload.scores.0`. Paths are not
 * JSONata: they are parsed once and read without evaluation, so they cost nothing
 * per message. A tensor on the way is indexed through its flat `data`
 * (`payload.features[5]` is element 5 of the tensor `features`).
 */
import { z } from "zod";
import { isTensor, type Message } from "../../sdk";

const SEGMENT = /^[A-Za-z_$][\w$-]*$|^\d+$/;

export const valuePathSchema = z
  .string()
  .refine((p) => parsePath(p) !== undefined, { message: 'must be a path such as "payload", "payload.error" or "payload.x[3]"' })
  .describe('Where the watched value is in each message: "payload", "payload.error", "payload.x[3]" (dots and [index]; tensors are indexed through their data)');

/** The path's segments, or undefined when it is not a path. */
export function parsePath(path: string): string[] | undefined {
  const segments = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  return segments.every((s) => SEGMENT.test(s)) ? segments : undefined;
}

/** Reads a path out of a message; undefined when something on the way is missing. */
export function readPath(message: Message, segments: readonly string[]): unknown {
  let value: unknown = message;
  for (const segment of segments) {
    if (value === null || value === undefined) return undefined;
    if (isTensor(value)) value = /^\d+$/.test(segment) ? value.data[Number(segment)] : (value as unknown as Record<string, unknown>)[segment];
    else value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** A number out of a value: numbers as they are, booleans as 1/0 (true = 1, so `payload.wrong` feeds DDM), bigints converted. */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") return Number(value);
  return undefined;
}

/** The feature vector in a value: a number, an array of numbers/strings, or a tensor's data. */
export function toVector(value: unknown): ArrayLike<number | string> | undefined {
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") return [typeof value === "boolean" ? Number(value) : value];
  if (isTensor(value)) return value.data as ArrayLike<number | string>;
  if (Array.isArray(value) && value.every((v) => typeof v === "number" || typeof v === "string" || typeof v === "boolean"))
    return value.map((v) => (typeof v === "boolean" ? Number(v) : v));
  return undefined;
}
