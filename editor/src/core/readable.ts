/**
 * Values of a model card or history entry (trigger, replay, ewc, classes, snapshot source…) in
 * words instead of raw JSON: one `key: text` line per field, nested objects inline, ranges as
 * `from–to`, long lists counted. Framework-free, so the rules are unit-tested without a browser.
 */
const MAX_LISTED = 6;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function numberText(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString("en") : String(Number(v.toPrecision(4)));
}

/** `{from, to}` as `from–to`. */
function rangeText(v: Record<string, unknown>): string | undefined {
  const keys = Object.keys(v);
  return keys.length === 2 && typeof v.from === "number" && typeof v.to === "number" ? `${numberText(v.from)}–${numberText(v.to)}` : undefined;
}

/** Counts keyed by class (`{"0": 1200, "1": 1180}`) as `0 (1,200), 1 (1,180)`. */
function countsText(v: Record<string, unknown>): string | undefined {
  const entries = Object.entries(v);
  if (!entries.length || !entries.every(([k, n]) => /^\d+$/.test(k) && typeof n === "number")) return undefined;
  return `${entries.length} classes: ${entries.map(([k, n]) => `${k} (${numberText(n as number)})`).join(", ")}`;
}

/** One value on one line. */
export function readableInline(value: unknown): string {
  if (value === undefined || value === null || value === "") return "—";
  if (typeof value === "number") return numberText(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    if (!value.length) return "none";
    const shown = value.slice(0, MAX_LISTED).map(readableInline).join(", ");
    return value.length > MAX_LISTED ? `${value.length} items: ${shown}, …` : shown;
  }
  if (isObject(value)) {
    const special = rangeText(value) ?? countsText(value);
    if (special) return special;
    const parts = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => (typeof v === "boolean" ? (v ? k : `no ${k}`) : `${k} ${readableInline(v)}`));
    return parts.length ? parts.join(" · ") : "—";
  }
  return String(value);
}

/** A field's text for a card cell: objects with a `kind` lead with it (`drift — reason …`). */
export function readableField(value: unknown): string {
  if (isObject(value) && typeof value.kind === "string") {
    const { kind, reason, ...rest } = value;
    const others = Object.keys(rest).length ? ` · ${readableInline(rest)}` : "";
    return `${kind}${reason ? ` — ${readableInline(reason)}` : ""}${others}`;
  }
  return readableInline(value);
}
