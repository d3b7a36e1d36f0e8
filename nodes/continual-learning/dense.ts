/**
 * Dense models (softmax regression, MLP) as plain weights, and their two homes:
 * ONNX files (written with onnx/build.ts, read back with onnx-proto so a
 * stateful trainer can warm-start from the champion's file) and tfjs variables.
 */
import { buildMlp, type Activation } from "../../onnx/build";
import { decodeModel } from "../../onnx/signature";

export interface DenseWeights {
  /** [inputs, units] row-major: y = x·W + b. */
  kernel: Float32Array;
  bias: Float32Array;
  inputs: number;
  units: number;
  activation: Activation;
}

export interface DenseModel {
  layers: DenseWeights[];
  inputName: string;
  outputName: string;
  /** The batch dimension's name in the signature (kept so a candidate has the champion's exact signature). */
  batch: string | number;
}

export interface Architecture {
  kind: "softmax-regression" | "mlp";
  /** Hidden layer widths (MLP only). */
  hidden: number[];
  /** Whether the model ends in a softmax (probabilities) or gives logits. */
  outputSoftmax: boolean;
}

/** Glorot-uniform kernels, zero biases, from a seeded generator so runs repeat. */
export function initDense(inputs: number, classes: number, arch: Architecture, random: () => number): DenseModel {
  const widths = [inputs, ...(arch.kind === "mlp" ? arch.hidden : []), classes];
  const layers: DenseWeights[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    const [n, m] = [widths[i], widths[i + 1]];
    const limit = Math.sqrt(6 / (n + m));
    const kernel = new Float32Array(n * m);
    for (let k = 0; k < kernel.length; k++) kernel[k] = (random() * 2 - 1) * limit;
    const last = i + 2 === widths.length;
    layers.push({ kernel, bias: new Float32Array(m), inputs: n, units: m, activation: last ? (arch.outputSoftmax ? "softmax" : "linear") : "relu" });
  }
  return { layers, inputName: "input", outputName: "output", batch: "batch" };
}

export function toOnnx(model: DenseModel, metadata?: Record<string, string>): Uint8Array {
  return buildMlp({
    inputSize: model.layers[0].inputs,
    layers: model.layers.map((l) => ({ weights: l.kernel, bias: l.bias, activation: l.activation })),
    inputName: model.inputName,
    outputName: model.outputName,
    batch: model.batch,
    producer: "evoflow-trainer",
    metadata,
  });
}

const ACTIVATION_OF_OP: Record<string, Activation> = { Relu: "relu", Sigmoid: "sigmoid", Tanh: "tanh", Softmax: "softmax" };

function floatsOf(t: { rawData?: Uint8Array | null; floatData?: number[] | null }): Float32Array {
  // Copy: protobufjs hands out Buffers that share (unaligned) pool memory.
  if (t.rawData && t.rawData.length) return new Float32Array(new Uint8Array(t.rawData).buffer);
  return Float32Array.from(t.floatData ?? []);
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * Reads a dense network back from ONNX bytes: a chain of Gemm (or MatMul [+ Add]) nodes,
 * each optionally followed by Relu/Sigmoid/Tanh/Softmax — the form `buildMlp` writes.
 * Anything else is refused with the reason, so a stateful trainer never warm-starts from a
 * model it misread.
 */
export function fromOnnx(bytes: Uint8Array): DenseModel {
  const graph = decodeModel(bytes).graph!;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const inputName = graph.input!.find((v) => !inits.has(v.name ?? ""))!.name!;
  const outputName = graph.output![0].name!;
  const batchDim = graph.input!.find((v) => v.name === inputName)?.type?.tensorType?.shape?.dim?.[0];
  const batch = batchDim?.dimParam ? batchDim.dimParam : batchDim?.dimValue ? Number(batchDim.dimValue) : -1;
  const layers: DenseWeights[] = [];
  let current = inputName;
  const nodes = graph.node ?? [];
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    const op = node.opType!;
    if (op === "Gemm" || op === "MatMul") {
      if (node.input![0] !== current) throw new Error(`ONNX node ${node.name}: expected to consume ${current}, not a plain dense chain`);
      const w = inits.get(node.input![1]);
      if (!w) throw new Error(`ONNX node ${node.name}: weight ${node.input![1]} is not an initializer`);
      const [rows, cols] = (w.dims ?? []).map(Number);
      const transB = node.attribute?.find((a) => a.name === "transB")?.i;
      let kernel: Float32Array = floatsOf(w);
      let [inputs, units] = [rows, cols];
      if (op === "Gemm" && Number(transB ?? 0) === 1) [kernel, inputs, units] = [transpose(kernel, rows, cols), cols, rows];
      let bias: Float32Array = new Float32Array(units);
      let out = node.output![0];
      if (op === "Gemm" && node.input![2]) bias = floatsOf(inits.get(node.input![2])!);
      if (op === "MatMul" && nodes[i + 1]?.opType === "Add" && nodes[i + 1].input!.includes(out)) {
        const biasName = nodes[i + 1].input!.find((n) => n !== out)!;
        bias = floatsOf(inits.get(biasName)!);
        out = nodes[++i].output![0];
      }
      layers.push({ kernel, bias, inputs, units, activation: "linear" });
      current = out;
    } else if (ACTIVATION_OF_OP[op] && layers.length && node.input![0] === current) {
      layers[layers.length - 1].activation = ACTIVATION_OF_OP[op];
      current = node.output![0];
    } else {
      throw new Error(`ONNX op ${op} (${node.name}) is not part of a dense network this trainer can warm-start from`);
    }
  }
  if (current !== outputName) throw new Error(`the dense chain ends at ${current}, not at the graph output ${outputName}`);
  return { layers, inputName, outputName, batch };
}

export function architectureOf(model: DenseModel): Architecture {
  return {
    kind: model.layers.length > 1 ? "mlp" : "softmax-regression",
    hidden: model.layers.slice(0, -1).map((l) => l.units),
    outputSoftmax: model.layers.at(-1)!.activation === "softmax",
  };
}

export function parameterCount(model: DenseModel): number {
  return model.layers.reduce((n, l) => n + l.kernel.length + l.bias.length, 0);
}
