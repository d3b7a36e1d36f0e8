import { z } from "zod";
import { defineNode, port } from "../../sdk";

/**
 * Returns a copy of `obj` with `value` at `path` (from segment `from` on); objects along the
 * path are copied, never mutated. Spread first, then assign: a spread with a computed key in
 * the same literal misses V8's fast object clone and costs twice as much.
 */
export function withPath(obj: unknown, path: readonly string[], value: unknown, from = 0): Record<string, unknown> {
  const base = typeof obj === "object" && obj !== null && !Array.isArray(obj) ? (obj as Record<string, unknown>) : {};
  const copy: Record<string, unknown> = { ...base };
  const head = path[from];
  copy[head] = from === path.length - 1 ? value : withPath(base[head], path, value, from + 1);
  return copy;
}

export default defineNode({
  type: "transform.set",
  category: "transform",
  title: "Set fields",
  description: "Sets fields of the payload to fixed values (like Node-RED's change node): the cheapest transform, for tagging and routing keys.",
  inputs: { in: port.record() },
  outputs: { out: port.record() },
  config: z.object({
    set: z.record(z.string().regex(/^[^.]+(\.[^.]+)*$/, "a dotted path such as a.b"), z.unknown()).default({}).describe("Dotted path → value"),
  }),
  create: (_ctx, config) => {
    const assignments = Object.entries(config.set).map(([path, value]) => [path.split("."), value] as const);
    return {
      onMessage(_port, message, emit) {
        let payload = message.payload;
        for (const [path, value] of assignments) payload = withPath(payload, path, value);
        void emit("out", payload); // the engine waits for emits the node does not await
      },
    };
  },
});
