import { describe, expect, it } from "vitest";
import { ort, type Ort } from "../../onnx/ort";
import { buildMlp, buildOnnxModel, attr } from "../../onnx/build";
import { readSignature, InvalidOnnxModelError } from "../../onnx/signature";
import { ONNX_DTYPE_CODES } from "../../onnx/dtypes";
import { onnx } from "../../onnx/proto";
import { makeMlp, randomFloats } from "../fixtures/mlp";

async function runOrt(bytes: Uint8Array, feeds: Record<string, Ort.Tensor>): Promise<Record<string, Ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    if (Math.abs(actual[i] - expected[i]) > tolerance * scale) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

describe("ONNX builder, run by onnxruntime-node", () => {
  const cases = [
    { sizes: [4, 3], softmax: false },
    { sizes: [4, 8, 3], softmax: true },
    { sizes: [16, 32, 16, 5], softmax: false, hidden: "tanh" as const },
    { sizes: [784, 128, 10], softmax: true },
    { sizes: [6, 12, 2], softmax: false, hidden: "sigmoid" as const, matmul: true },
  ];
  for (const c of cases) {
    it(`MLP ${c.sizes.join("-")}${c.softmax ? " + softmax" : ""}${c.matmul ? " (MatMul+Add)" : ""} matches the JS reference for batches 1 and 7`, async () => {
      const mlp = makeMlp({ ...c, seed: c.sizes.length });
      const session = await ort.InferenceSession.create(mlp.bytes);
      try {
        for (const batch of [1, 7]) {
          const x = randomFloats(batch * c.sizes[0], batch * 31);
          const out = await session.run({ [mlp.inputName]: new ort.Tensor("float32", x, [batch, c.sizes[0]]) });
          const y = out[mlp.outputName];
          expect(y.dims).toEqual([batch, c.sizes.at(-1)]);
          expect(y.type).toBe("float32");
          expectClose(y.data as Float32Array, mlp.forward(x, batch));
        }
      } finally {
        await session.release();
      }
    });
  }

  it("accepts kernels given as rows, and no bias", async () => {
    // y = x·W with W = [[1, 2], [3, 4], [5, 6]]: worked out by hand.
    const bytes = buildMlp({ inputSize: 3, layers: [{ weights: [[1, 2], [3, 4], [5, 6]] }], inputName: "x", outputName: "y" });
    const out = await runOrt(bytes, { x: new ort.Tensor("float32", Float32Array.from([1, 0, -1, 2, 1, 1]), [2, 3]) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([1 - 5, 2 - 6, 2 + 3 + 5, 4 + 4 + 6]);
  });

  it("builds an arbitrary graph with attributes", async () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: "a", dtype: "float32", shape: [-1, 2] }, { name: "b", dtype: "float32", shape: [2, 2] }],
      outputs: [{ name: "c", dtype: "float32", shape: [-1, 2] }],
      nodes: [{ op: "Gemm", inputs: ["a", "b"], outputs: ["c"], attributes: [attr.float("alpha", 0.5), attr.int("transB", 1)] }],
    });
    const out = await runOrt(bytes, {
      a: new ort.Tensor("float32", Float32Array.from([1, 2]), [1, 2]),
      b: new ort.Tensor("float32", Float32Array.from([1, 0, 1, 1]), [2, 2]),
    });
    // 0.5 · a · bᵀ = 0.5 · [1·1 + 2·0, 1·1 + 2·1] = [0.5, 1.5]
    expect(Array.from(out.c.data as Float32Array)).toEqual([0.5, 1.5]);
  });

  it("rejects inconsistent layer sizes with a clear error", () => {
    expect(() => buildMlp({ inputSize: 3, layers: [{ weights: [1, 2, 3, 4] }] })).toThrow(/not a multiple of its 3 inputs/);
    expect(() => buildMlp({ inputSize: 2, layers: [{ weights: [1, 2, 3, 4], bias: [1] }] })).toThrow(/bias has 1 values, expected 2/);
    expect(() => buildMlp({ inputSize: 2, layers: [] })).toThrow(/at least one layer/);
  });
});

describe("signature read from the file", () => {
  it("reads names, dtypes and shapes with the dynamic batch dimension", () => {
    const mlp = makeMlp({ sizes: [5, 7, 3], softmax: true, inputName: "features", outputName: "probabilities", metadata: { task: "test" } });
    const sig = readSignature(mlp.bytes);
    expect(sig.inputs).toEqual([{ name: "features", kind: "tensor", dtype: "float32", shape: [-1, 5], dimNames: ["batch", null] }]);
    expect(sig.outputs).toEqual([{ name: "probabilities", kind: "tensor", dtype: "float32", shape: [-1, 3], dimNames: ["batch", null] }]);
    expect(sig.opsets).toEqual([{ domain: "", version: 13 }]);
    expect(sig.irVersion).toBeGreaterThan(0);
    expect(sig.producer).toBe("evoflow");
    expect(sig.metadata).toEqual({ task: "test" });
  });

  it("reads several inputs of other dtypes, anonymous dynamic and fixed dims", () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: "ids", dtype: "int64", shape: [-1, 4] }, { name: "mask", dtype: "bool", shape: [2, 4] }],
      outputs: [{ name: "out", dtype: "int64", shape: ["n", 4] }],
      nodes: [{ op: "Identity", inputs: ["ids"], outputs: ["out"] }],
    });
    const sig = readSignature(bytes);
    expect(sig.inputs.map((i) => [i.name, i.dtype, i.shape, i.dimNames])).toEqual([
      ["ids", "int64", [-1, 4], [null, null]],
      ["mask", "bool", [2, 4], [null, null]],
    ]);
    expect(sig.outputs[0]).toMatchObject({ name: "out", dtype: "int64", shape: [-1, 4], dimNames: ["n", null] });
  });

  it("tells a scalar (no dimensions) from a tensor of unknown rank (no shape at all)", async () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: "x", dtype: "float32", shape: [] }],
      outputs: [{ name: "y", dtype: "float32" }],
      nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
    });
    const sig = readSignature(bytes);
    expect(sig.inputs[0]).toEqual({ name: "x", kind: "tensor", dtype: "float32", shape: [], dimNames: [] });
    expect(sig.outputs[0]).toEqual({ name: "y", kind: "tensor", dtype: "float32" });
    const out = await runOrt(bytes, { x: new ort.Tensor("float32", Float32Array.from([2.5]), []) });
    expect(out.y.dims).toEqual([]);
    expect(Array.from(out.y.data as Float32Array)).toEqual([2.5]);
  });

  it("leaves out initializers listed among the graph inputs (the pre-IR-4 convention)", () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: "x", dtype: "float32", shape: ["batch", 2] }, { name: "W", dtype: "float32", shape: [2, 2] }],
      outputs: [{ name: "y", dtype: "float32", shape: ["batch", 2] }],
      nodes: [{ op: "MatMul", inputs: ["x", "W"], outputs: ["y"] }],
      initializers: [{ name: "W", dtype: "float32", dims: [2, 2], data: Float32Array.from([1, 0, 0, 1]) }],
    });
    expect(readSignature(bytes).inputs.map((i) => i.name)).toEqual(["x"]);
  });

  it("throws a clear error for bytes that are not an ONNX model", () => {
    const notModels: [string, Uint8Array][] = [
      ["empty", new Uint8Array()],
      ["text", new TextEncoder().encode("this is not an onnx model\n")],
      ["JSON", new TextEncoder().encode(JSON.stringify({ apiVersion: "evoflow/v1", nodes: [] }))],
      ["random bytes", Uint8Array.from(randomFloats(64, 9), (v) => Math.floor((v + 1) * 127))],
      ["truncated model", makeMlp({ sizes: [4, 3] }).bytes.subarray(0, 40)],
    ];
    for (const [what, bytes] of notModels) {
      let error: unknown;
      try {
        readSignature(bytes);
      } catch (err) {
        error = err;
      }
      expect(error, what).toBeInstanceOf(InvalidOnnxModelError);
      expect((error as Error).message, what).toMatch(/^not a valid ONNX model: /);
    }
  });
});

describe("ONNX element type codes", () => {
  it("are onnx.proto's TensorProto.DataType (written out so onnx-proto loads only when a model file is read)", () => {
    const names: Record<string, string> = { float32: "FLOAT", float64: "DOUBLE" };
    for (const [dtype, code] of Object.entries(ONNX_DTYPE_CODES)) expect([dtype, code]).toEqual([dtype, (onnx.TensorProto.DataType as unknown as Record<string, number>)[names[dtype] ?? dtype.toUpperCase()]]);
  });
});
