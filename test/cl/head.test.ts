import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ort, type Ort } from "../../onnx/ort";
import { headOf } from "../../nodes/continual-learning/extractor";
import { loadFashionMnist, subset, type LabelledSet } from "../../nodes/continual-learning/fashion-mnist";
import { tensor } from "../../sdk/ports";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { Runtime } from "../../runtime/runtime";
import { predict, train, trainConfigSchema } from "../../nodes/continual-learning/train";
import { attr, buildOnnxModel } from "../../onnx/build";
import { decodeModel, readSignature } from "../../onnx/signature";
import { makeMlp, randomFloats } from "../fixtures/mlp";

async function runOnnx(bytes: Uint8Array, feeds: Record<string, Ort.Tensor>): Promise<Ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** `count` examples of `features` values, labelled by the argmax of a fixed random linear map (learnable, 3 classes). */
function labelledSet(count: number, features: number, seed: number): LabelledSet {
  const x = randomFloats(count * features, seed);
  const map = randomFloats(features * 3, 99);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const scores = [0, 1, 2].map((c) => {
      let s = 0;
      for (let f = 0; f < features; f++) s += x[i * features + f] * map[f * 3 + c];
      return s;
    });
    y[i] = scores.indexOf(Math.max(...scores));
  }
  return { x, y, count, features };
}

function initializerBytes(bytes: Uint8Array): Map<string, string> {
  return new Map(decodeModel(bytes).graph!.initializer!.map((t) => [t.name!, Buffer.from(t.rawData!).toString("hex")]));
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tolerance);
}

describe("trainable head on a frozen ONNX feature extractor", () => {
  // The extractor: 12 inputs → relu(8) → 6 outputs; the head reads the intermediate relu tensor, so the last layer is pruned away.
  const extractor = makeMlp({ sizes: [12, 8, 6], seed: 5, inputName: "pixels", outputName: "embedding" });
  // Labels the head can learn from the features: the argmax of the extractor's own first three outputs.
  const byExtractor = (set: LabelledSet): LabelledSet => {
    const out = extractor.forward(set.x, set.count);
    const y = Int32Array.from({ length: set.count }, (_, i) => {
      const row = Array.from(out.subarray(i * 6, i * 6 + 3));
      return row.indexOf(Math.max(...row));
    });
    return { ...set, y };
  };
  const data = byExtractor(labelledSet(400, 12, 3));
  const config = trainConfigSchema.parse({ mode: "stateless", architecture: { kind: "mlp", hidden: [5] }, classes: 3, epochs: 30, learningRate: 0.01, seed: 2 });

  it("exports ONE model whose onnxruntime output equals the extractor's features through the tfjs head, extractor weights untouched", async () => {
    const result = await train({ config, data, extractor: { bytes: extractor.bytes, output: "relu_0" } });
    const signature = readSignature(result.onnx);
    expect(signature.inputs).toEqual(readSignature(extractor.bytes).inputs);
    expect(signature.outputs.map((o) => [o.name, o.shape])).toEqual([["output", [-1, 3]]]);

    // Extractor weights: byte for byte the same; the layer after the feature tensor is gone.
    const original = initializerBytes(extractor.bytes);
    const merged = initializerBytes(result.onnx);
    expect(merged.get("W0")).toBe(original.get("W0"));
    expect(merged.get("B0")).toBe(original.get("B0"));
    expect(merged.has("W1")).toBe(false);

    // Reference: features by plain JS from the extractor's first layer, then the head in tfjs.
    const probe = byExtractor(labelledSet(50, 12, 8));
    const [w, b] = [extractor.layers[0].weights, extractor.layers[0].bias];
    const features = new Float32Array(50 * 8);
    for (let i = 0; i < 50; i++)
      for (let j = 0; j < 8; j++) {
        let s = b[j];
        for (let k = 0; k < 12; k++) s += probe.x[i * 12 + k] * w[k * 8 + j];
        features[i * 8 + j] = Math.max(0, s);
      }
    const head = headOf(result.onnx, "relu_0");
    expect(head.layers.map((l) => [l.inputs, l.units, l.activation])).toEqual([[8, 5, "relu"], [5, 3, "softmax"]]);
    const expected = await predict(head, features, 50);
    const out = await runOnnx(result.onnx, { pixels: new ort.Tensor("float32", probe.x, [50, 12]) });
    expectClose(out.output.data as Float32Array, expected, 1e-5);

    // And it learnt: the head beats chance clearly on fresh examples.
    const scores = out.output.data as Float32Array;
    let right = 0;
    for (let i = 0; i < 50; i++) {
      const row = Array.from(scores.subarray(i * 3, i * 3 + 3));
      if (row.indexOf(Math.max(...row)) === probe.y[i]) right++;
    }
    expect(right / 50).toBeGreaterThan(0.75);
  });

  it("warm-starts the head from a merged champion (stateful, replay, EWC) and keeps its signature and the extractor's weights", async () => {
    const first = await train({ config, data, extractor: { bytes: extractor.bytes, output: "relu_0" } });
    const stateful = trainConfigSchema.parse({ mode: "stateful", epochs: 1, learningRate: 0.01, replay: { memSize: 60 }, ewc: { lambda: 10 }, seed: 4 });
    const more = labelledSet(120, 12, 11);
    const second = await train({ config: stateful, data: more, base: first.onnx, state: { seenClasses: [0, 1, 2], experiences: 1, replay: labelledSet(60, 12, 12) }, extractor: { bytes: extractor.bytes, output: "relu_0" } });
    expect(second.warmStart).toBe(true);
    expect(readSignature(second.onnx).inputs).toEqual(readSignature(first.onnx).inputs);
    expect(readSignature(second.onnx).outputs).toEqual(readSignature(first.onnx).outputs);
    // The CL state keeps raw examples (12 values each), so a later run can recompute features.
    expect(second.state.replay!.features).toBe(12);
    expect(second.state.ewc![0].fisher.map((f) => f.length)).toEqual([8 * 5, 5, 5 * 3, 3]);
    expect(initializerBytes(second.onnx).get("W0")).toBe(initializerBytes(extractor.bytes).get("W0"));
    // The head moved from the champion's (a warm start, not a fresh one).
    const [before, after] = [headOf(first.onnx, "relu_0"), headOf(second.onnx, "relu_0")];
    expect(Array.from(after.layers[0].kernel)).not.toEqual(Array.from(before.layers[0].kernel));
    // Seeded: the same job gives the same head.
    const again = await train({ config: stateful, data: more, base: first.onnx, state: { seenClasses: [0, 1, 2], experiences: 1, replay: labelledSet(60, 12, 12) }, extractor: { bytes: extractor.bytes, output: "relu_0" } });
    expect(Array.from(headOf(again.onnx, "relu_0").layers[1].kernel)).toEqual(Array.from(after.layers[1].kernel));
  });

  it("flattens a convolutional extractor's 4-D features; the merged model equals onnxruntime's extractor then the tfjs head", async () => {
    // [batch, 1, 4, 4] images → Conv(2 filters, 3×3) → Relu → [batch, 2, 2, 2] features.
    const conv = buildOnnxModel({
      inputs: [{ name: "image", dtype: "float32", shape: ["n", 1, 4, 4] }],
      outputs: [{ name: "maps", dtype: "float32", shape: ["n", 2, 2, 2] }],
      nodes: [
        { op: "Conv", inputs: ["image", "K", "C"], outputs: ["conv"], attributes: [attr.ints("kernel_shape", [3, 3])] },
        { op: "Relu", inputs: ["conv"], outputs: ["maps"] },
      ],
      initializers: [
        { name: "K", dtype: "float32", dims: [2, 1, 3, 3], data: randomFloats(18, 21, 0.5) },
        { name: "C", dtype: "float32", dims: [2], data: Float32Array.from([0.1, -0.1]) },
      ],
    });
    const images = labelledSet(300, 16, 31);
    const result = await train({ config, data: images, extractor: { bytes: conv, output: "maps" } });
    expect(readSignature(result.onnx).inputs).toEqual(readSignature(conv).inputs);
    const probe = labelledSet(20, 16, 32);
    const maps = (await runOnnx(conv, { image: new ort.Tensor("float32", probe.x, [20, 1, 4, 4]) })).maps.data as Float32Array;
    const expected = await predict(headOf(result.onnx, "maps"), maps, 20);
    const out = await runOnnx(result.onnx, { image: new ort.Tensor("float32", probe.x, [20, 1, 4, 4]) });
    expectClose(out.output.data as Float32Array, expected, 1e-5);
    expect(initializerBytes(result.onnx).get("K")).toBe(initializerBytes(conv).get("K"));
  });

  it("refuses what it cannot do, with the reason", async () => {
    await expect(train({ config, data, extractor: { bytes: extractor.bytes, output: "nope" } })).rejects.toThrow(/computes no tensor "nope"/);
    await expect(train({ config, data: labelledSet(50, 10, 1), extractor: { bytes: extractor.bytes, output: "relu_0" } })).rejects.toThrow(/data has 10 values per example/);
    // A champion that is not a merged head cannot be warm-started from.
    await expect(train({ config: trainConfigSchema.parse({ mode: "stateful", classes: 3 }), data, base: makeMlp({ sizes: [12, 3] }).bytes, extractor: { bytes: extractor.bytes, output: "relu_0" } })).rejects.toThrow(/not a head on a feature extractor/);
  });
});

describe("trainer.tfjs with an extractor from the registry", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "evoflow-cl-head-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("trains a head on the registered extractor's tensor in its child process and registers one model with the extractor's version in its lineage", async () => {
    const registry = new FsModelRegistry(path.join(dir, "registry"));
    const features = makeMlp({ sizes: [784, 32, 10], seed: 9, inputName: "pixels" });
    await registry.promote("features", (await registry.register({ name: "features", artifact: features.bytes })).version);
    const runtime = new Runtime({ dataDir: path.join(dir, "data"), services: { registry } });
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "head-cl",
      nodes: [
        { id: "labels", type: "io.http", config: { name: "labels" } },
        { id: "trigger", type: "io.http", config: { name: "trigger" } },
        { id: "trainer", type: "trainer.tfjs", config: { model: "fm-head", mode: "stateless", architecture: { kind: "softmax-regression" }, epochs: 2, minSamples: 100, extractor: { model: "features@champion", output: "relu_0" } } },
        { id: "out", type: "io.sink", config: { kind: "discard" } },
      ],
      edges: [
        { from: "labels.out", to: "trainer.data", mode: "async" },
        { from: "trigger.out", to: "trainer.trigger", mode: "async" },
        { from: "trainer.candidate", to: "out.in", mode: "async" },
      ],
    });
    const data = subset(loadFashionMnist("test"), Array.from({ length: 300 }, (_, i) => i));
    for (let i = 0; i < data.count; i++) await running.entrypoints.get("labels")!.invoke({ x: tensor("float32", [784], data.x.slice(i * 784, (i + 1) * 784)), y: data.y[i] });
    await running.idle();
    await running.entrypoints.get("trigger")!.invoke({ kind: "trigger", policy: "volume", reason: "300 new samples" });
    let v1;
    while (!(v1 = await registry.get("fm-head", 1))) await new Promise((r) => setTimeout(r, 100));
    expect(v1.lineage).toMatchObject({ trainer: { type: "trainer.tfjs", extractor: { model: "features@champion", output: "relu_0", version: "features@1" } } });
    const candidate = await registry.readArtifact("fm-head", 1);
    expect(readSignature(candidate).inputs).toEqual(readSignature(features.bytes).inputs);
    expect(initializerBytes(candidate).get("W0")).toBe(initializerBytes(features.bytes).get("W0"));
    const out = await runOnnx(candidate, { pixels: new ort.Tensor("float32", data.x.slice(0, 784 * 4), [4, 784]) });
    expect(out.output.dims).toEqual([4, 10]);
    await runtime.close();
    await registry.close();
  }, 60_000);
});
