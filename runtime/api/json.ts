/**
 * JSON views of messages for the HTTP/WebSocket API. Tensors travel as typed
 * arrays internally; over JSON they become `{dtype, shape, data: number[]}`.
 * BigInts become strings, since JSON has no 64-bit integers.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === "bigint" ? v.toString() : v));
  }
  return value;
}

export function stringify(value: unknown): string {
  return JSON.stringify(value, jsonReplacer);
}
