import { z } from "zod";
import { defineNode, port, type Tensor } from "../../sdk";

const config = z.object({
  fields: z
    .array(z.string().regex(/^[^.]+(\.[^.]+)*$/, "a dotted path such as reading.temp").max(512))
    .min(1)
    .max(4096)
    .describe("The numeric fields of the record, in the order of the model's features (dotted for nested ones)"),
  dtype: z.enum(["float32", "float64"]).default("float32").describe("The element type of the tensor"),
});

const valueAt = (payload: unknown, path: readonly string[]) => path.reduce<unknown>((v, k) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), payload);

/**
 * The step between records (sensor readings, table rows, JSON events) and a model: a row of
 * features as the tensor `[1, n]` a model's batch dimension expects. The record itself goes on
 * beside it on another branch (join them again by trace with control.join).
 */
export default defineNode({
  type: "transform.tensor",
  category: "transform",
  title: "Record to tensor",
  description: "Builds a one-row tensor [1, n] from numeric fields of the record, in the order given, for a model to score; a field that is missing or not a finite number sends the message to the dead letters, naming the field.",
  inputs: { in: port.record() },
  outputs: (c: z.output<typeof config>) => ({ out: port.tensor({ dtype: c.dtype, shape: [1, c.fields.length] }) }),
  config,
  create: (_ctx, cfg) => {
    const paths = cfg.fields.map((f) => f.split("."));
    const Data = cfg.dtype === "float32" ? Float32Array : Float64Array;
    return {
      onMessage(_port, message, emit) {
        const data = new Data(paths.length);
        paths.forEach((path, i) => {
          const v = valueAt(message.payload, path);
          if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`field ${cfg.fields[i]} is ${JSON.stringify(v) ?? "missing"}, not a finite number`);
          data[i] = v;
        });
        const tensor: Tensor = { dtype: cfg.dtype, shape: [1, paths.length], data };
        void emit("out", tensor); // the engine waits for emits the node does not await
      },
    };
  },
});
