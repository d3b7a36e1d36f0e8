import { z } from "zod";
import { defineNode } from "../../runtime/node-contract";
import { port } from "../../runtime/ports";

/** Returns a copy of `obj` with `value` at the dotted `path`; objects along the path are copied, never mutated. */
export function withPath(obj: unknown, path: readonly string[], value: unknown): unknown {
  const [head, ...rest] = path;
  const base = typeof obj === "object" && obj !== null && !Array.isArray(obj) ? (obj as Record<string, unknown>) : {};
  return { ...base, [head]: rest.length === 0 ? value : withPath(base[head], rest, value) };
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
