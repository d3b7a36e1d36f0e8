import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ort } from "../../onnx/ort";
import { describe, expect, it } from "vitest";
import { splitWeights } from "../../onnx/external-weights";
import { onnx } from "../../onnx/proto";
import { tempDir, expectClose } from "../agent/helpers";
import { makeMlp, randomFloats } from "../fixtures/mlp";

/** Writes the split form of `bytes` into a new folder; returns the graph file's path. */
function writeSplit(bytes: Uint8Array): { graphPath: string; weightsPath: string; split: ReturnType<typeof splitWeights> } {
  const dir = tempDir("split");
  const split = splitWeights(bytes, "model.weights");
  writeFileSync(join(dir, "model.weights"), split.weights);
  writeFileSync(join(dir, "model.mapped.onnx"), split.graph);
  return { graphPath: join(dir, "model.mapped.onnx"), weightsPath: join(dir, "model.weights"), split };
}

describe("splitWeights: large initializers in a page-aligned weights file", () => {
  const mlp = makeMlp({ sizes: [784, 128, 10], seed: 4 });

  it("moves the large weights out at page-aligned offsets and keeps the small ones in the graph", () => {
    const { split, weightsPath } = writeSplit(mlp.bytes);
    // 784×128 and 128×10 floats move; the biases (128 and 10 floats) stay.
    expect(split.moved.map((m) => m.length)).toEqual([784 * 128 * 4, 128 * 10 * 4]);
    for (const m of split.moved) expect(m.offset % 4096).toBe(0);
    expect(statSync(weightsPath).size).toBe(split.weights.length);
    expect(split.graph.length).toBeLessThan(4096);
    const graph = onnx.ModelProto.decode(split.graph);
    const external = graph.graph!.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
    expect(external.map((t) => [t.name, Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]))])).toEqual(
      split.moved.map((m) => [m.name, { location: "model.weights", offset: String(m.offset), length: String(m.length) }]),
    );
    // Each tensor's bytes are where the graph says; the original bytes are untouched (the registry's artifact stays whole).
    const original = new Map(onnx.ModelProto.decode(mlp.bytes).graph!.initializer!.map((t) => [t.name, t.rawData!]));
    for (const m of split.moved) expect(Buffer.from(split.weights.subarray(m.offset, m.offset + m.length)).equals(Buffer.from(original.get(m.name)!))).toBe(true);
    expect([...original.values()].every((raw) => raw.length > 0)).toBe(true);
  });

  for (const prepack of [true, false]) {
    it(`onnxruntime runs the split form with the original's answers (weight prepacking ${prepack ? "on" : "off"})`, async () => {
      const { graphPath, weightsPath } = writeSplit(mlp.bytes);
      const session = await ort.InferenceSession.create(graphPath, { executionProviders: ["cpu"], intraOpNumThreads: 1, ...(prepack ? {} : { extra: { session: { disable_prepacking: "1" } } }) });
      try {
        for (const batch of [1, 7]) {
          const x = randomFloats(batch * 784, batch);
          const out = await session.run({ [mlp.inputName]: new ort.Tensor("float32", x, [batch, 784]) });
          expectClose(out[mlp.outputName].data as Float32Array, mlp.forward(x, batch));
        }
        // Without prepacking the kernels read the weights where they lie: mapped from the file, not copied.
        if (!prepack && process.platform === "linux") expect(readFileSync("/proc/self/maps", "utf8")).toContain(weightsPath);
      } finally {
        await session.release();
      }
      expect(existsSync(weightsPath)).toBe(true);
    });
  }

  it("leaves a model with no large initializer without a weights file", () => {
    const small = makeMlp({ sizes: [8, 16, 4], seed: 2 });
    const split = splitWeights(small.bytes, "model.weights");
    expect(split.moved).toEqual([]);
    expect(split.weights.length).toBe(0);
  });
});
