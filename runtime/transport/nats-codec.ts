/**
 * The wire format of the nats transport: CBOR (cbor-x). Typed arrays travel as CBOR
 * typed-array tags (RFC 8746), so a Float32Array comes back a Float32Array and
 * tensors never become JSON number arrays.
 */
import { Encoder } from "cbor-x";
import type { Message } from "../envelope";
import type { DeadLetter } from "./transport";

// Plain maps, no record structures: every process decodes every message on its own,
// so nothing may depend on structures shared by an earlier message.
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export const encode = (value: unknown): Uint8Array => cbor.encode(value);
export const decode = (bytes: Uint8Array): unknown => cbor.decode(bytes);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** What is wrong with a decoded envelope, or undefined when it is one. */
function envelopeProblem(v: unknown): string | undefined {
  if (!isObject(v)) return "not an envelope object";
  if (typeof v.id !== "string" || v.id === "") return "envelope has no id";
  if (typeof v.traceId !== "string") return "envelope has no traceId";
  if (!Array.isArray(v.parents) || v.parents.some((p) => typeof p !== "string")) return "envelope parents must be an array of ids";
  if (typeof v.ts !== "number") return "envelope has no ts";
  const s = v.source;
  if (!isObject(s) || typeof s.pipeline !== "string" || typeof s.node !== "string" || typeof s.port !== "string")
    return "envelope source must be {pipeline, node, port}";
  if (!("payload" in v)) return "envelope has no payload";
  return undefined;
}

export class MalformedMessageError extends Error {}

/** Decodes and checks an envelope; throws MalformedMessageError with the reason. */
export function decodeMessage(bytes: Uint8Array): Message {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (err) {
    throw new MalformedMessageError(`not CBOR: ${(err as Error).message}`);
  }
  const problem = envelopeProblem(value);
  if (problem) throw new MalformedMessageError(`malformed message: ${problem}`);
  return value as Message;
}

/** A sync reply: the messages at the end of the request path, or the remote node's error. */
export type SyncReply = { messages: Message[] } | { error: { node: string; port: string; message: string } };

/** A dead letter as stored on `evoflow.<pipeline>.dlq`: the engine's letter, or raw bytes that never decoded. */
export type DeadLetterRecord = Omit<DeadLetter, "message"> & {
  message?: Message;
  subject?: string;
  raw?: Uint8Array;
  size?: number;
  /** How many times the message was delivered before it was given up on (settings.delivery.maxDeliver). */
  deliveries?: number;
};
