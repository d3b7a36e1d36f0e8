/**
 * Where Evoflow looks for a payload's binary data (typed arrays): the payload itself, a
 * field of a record payload, or a field's `data` (a tensor, or a record of tensors).
 * Provenance writes those bytes aside; taps count them against their budget.
 */

/** Bytes of the payload's typed arrays (0: it carries none). */
export function binaryBytes(payload: unknown): number {
  if (typeof payload !== "object" || payload === null) return 0;
  if (ArrayBuffer.isView(payload)) return payload.byteLength;
  let bytes = 0;
  for (const key in payload) {
    const v = (payload as Record<string, unknown>)[key];
    // Scalars first: most fields of most payloads are, and this runs at every emit.
    if (typeof v !== "object" || v === null) continue;
    if (ArrayBuffer.isView(v)) bytes += v.byteLength;
    else if (ArrayBuffer.isView((v as { data?: unknown }).data)) bytes += (v as { data: ArrayBufferView }).data.byteLength;
  }
  return bytes;
}

/** The payload with each leaf (what `isLeaf` says, in those places) replaced by `f`'s answer for it. */
export function mapLeaves<L>(payload: unknown, isLeaf: (v: unknown) => v is L, f: (leaf: L) => unknown): unknown {
  if (isLeaf(payload)) return f(payload);
  const out: Record<string, unknown> = Array.isArray(payload) ? ([] as unknown as Record<string, unknown>) : {};
  for (const key in payload as Record<string, unknown>) {
    const v = (payload as Record<string, unknown>)[key];
    if (isLeaf(v)) out[key] = f(v);
    else if (typeof v === "object" && v !== null && isLeaf((v as { data?: unknown }).data)) out[key] = { ...v, data: f((v as { data: L }).data) };
    else out[key] = v;
  }
  return out;
}
