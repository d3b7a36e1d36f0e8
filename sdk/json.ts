/**
 * JSON views of messages, for the HTTP/WebSocket API and nodes that write JSON. Tensors travel as typed
 * arrays internally; over JSON they become `{dtype, shape, data: number[]}`.
 * BigInts become strings, since JSON has no 64-bit integers.
 *
 * A reply never fails because of one message in it. Taps, dead letters and traces
 * show what nodes made, and a node may have made something JSON cannot hold: nested
 * deeper than the stack (JSON.stringify recurses), circular, or with a throwing
 * `toJSON`. Then each such payload is shown as `{"$unserialisable": reason}` and the
 * rest of the reply is intact; the first attempt costs nothing extra when all is well.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === "bigint" ? v.toString() : v));
  }
  return value;
}

const MAX_REASON = 200;

export interface Unserialisable {
  $unserialisable: string;
}

function unserialisable(err: unknown): Unserialisable {
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ");
  const reason = err instanceof RangeError ? `${message} (nested too deep for JSON)` : message;
  return { $unserialisable: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason };
}

/** The value, or a note with the reason if JSON cannot hold it. */
function tried(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  try {
    JSON.stringify(value, jsonReplacer);
    return value;
  } catch (err) {
    return unserialisable(err);
  }
}

export function stringify(value: unknown): string {
  try {
    return JSON.stringify(value, jsonReplacer);
  } catch {
    // Slow path, only for a reply that failed: each message payload is tried alone; if
    // that is not it, each element of every array too (a message of a list, a node of a trace).
    try {
      return JSON.stringify(value, (key, v) => (key === "payload" ? tried(jsonReplacer(key, v)) : jsonReplacer(key, v)));
    } catch {
      return JSON.stringify(value, function (this: unknown, key, v) {
        const replaced = jsonReplacer(key, v);
        return key === "payload" || Array.isArray(this) ? tried(replaced) : replaced;
      });
    }
  }
}
