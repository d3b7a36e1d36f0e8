// The node types of evoflow-nodes-acme. Plain JavaScript (ESM), so the package needs no build
// step; it imports only the SDK, which the runtime that loads it provides (`evoflow/sdk`).
import { defineNode, isTensor, port, z } from "evoflow/sdk";

/** Multiplies a tensor's values, or a number field of a record, by `factor`. */
const scale = defineNode({
  type: "acme.scale",
  category: "transform",
  // The palette and the canvas show these; the help panel shows the example.
  color: "#7048e8",
  icon: "×",
  title: "Scale",
  description: "Multiplies a tensor's values, or the number in the record field `field`, by `factor`.",
  inputs: { in: port.any() },
  outputs: { out: port.sameAs("in") },
  config: z.object({
    factor: z.number().default(2).describe("What values are multiplied by"),
    field: z.string().default("value").describe("The record field to scale when the payload is not a tensor"),
  }),
  example: { config: { factor: 3 }, input: { value: 2 }, output: { value: 6 } },
  create: (_ctx, config) => ({
    onMessage(_port, message, emit) {
      const p = message.payload;
      if (isTensor(p)) {
        if (p.dtype !== "float32" && p.dtype !== "float64") throw new Error(`acme.scale scales float tensors, not ${p.dtype}`);
        return emit("out", { ...p, data: p.data.map((v) => v * config.factor) });
      }
      const value = p?.[config.field];
      // Thrown errors become dead letters with this reason; the pipeline keeps serving.
      if (typeof value !== "number") throw new Error(`acme.scale: field "${config.field}" is not a number`);
      return emit("out", { ...p, [config.field]: value * config.factor });
    },
  }),
});

/** Counts the messages it has passed on since the pipeline started, and says so in each. */
const count = defineNode({
  type: "acme.count",
  category: "transform",
  color: "#7048e8",
  icon: "#",
  title: "Count",
  description: "Adds `count`, the number of messages seen since the pipeline started, to each record; the dashboard shows it too.",
  inputs: { in: port.record() },
  outputs: { out: port.record() },
  config: z.object({}),
  create: () => {
    // State lives in the instance: one per node of a running pipeline.
    let seen = 0;
    return {
      onMessage(_port, message, emit) {
        seen += 1;
        return emit("out", { ...message.payload, count: seen });
      },
      status: () => ({ count: seen }),
    };
  },
});

// The loader reads the default export; the named ones are for the package's own tests.
export { scale, count };
export default [scale, count];
