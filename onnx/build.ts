/**
 * Builds real ONNX model files with `onnx-proto`.
 *
 * Two levels: `buildOnnxModel` writes any graph (nodes, initializers, typed inputs/outputs);
 * `buildMlp` writes a dense network from a list of layers with their weights, which is what
 * test fixtures and the trainer's export of tfjs weights need. Weights are float32 and
 * stored as little-endian `raw_data`, the compact form onnxruntime reads directly.
 */
import type { OnnxProto } from "./proto";
import { onnx } from "./proto";
import { ONNX_DTYPE_CODES, type OnnxDType } from "./dtypes";

type IAttributeProto = OnnxProto.onnx.IAttributeProto;
type ITensorProto = OnnxProto.onnx.ITensorProto;
type IValueInfoProto = OnnxProto.onnx.IValueInfoProto;

/** A dimension: a size, or -1 / a name (e.g. "batch") for a dimension fixed only at run time. */
export type Dim = number | string;

export interface ValueSpec {
  name: string;
  dtype: OnnxDType;
  /** Omitted: the rank is unknown too (ONNX allows this, mostly on outputs). */
  shape?: Dim[];
}

export type InitializerData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

export interface InitializerSpec {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  data: InitializerData;
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: IAttributeProto[];
}

export interface GraphSpec {
  name?: string;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: InitializerSpec[];
  /** Default-domain opset; 13 covers Gemm, MatMul, Add, Relu, Sigmoid, Tanh, Softmax(axis=-1). */
  opset?: number;
  producer?: string;
  docString?: string;
  /** Stored as the model's `metadata_props`. */
  metadata?: Record<string, string>;
}

/** Node attributes, typed explicitly because a JS number cannot tell an int 1 from a float 1.0. */
export const attr = {
  int: (name: string, i: number): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  float: (name: string, f: number): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
  ints: (name: string, ints: number[]): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  floats: (name: string, floats: number[]): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOATS, floats }),
  string: (name: string, s: string): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) }),
};

function valueInfo(v: ValueSpec): IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE_CODES[v.dtype],
        // A dimension with neither value nor name is "unknown" in ONNX: that is what -1 means.
        ...(v.shape ? { shape: { dim: v.shape.map((d) => (typeof d === "string" ? { dimParam: d } : d < 0 ? {} : { dimValue: d })) } } : {}),
      },
    },
  };
}

function initializer(t: InitializerSpec): ITensorProto {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw new Error(`initializer "${t.name}": dims [${t.dims.join(",")}] need ${count} values, got ${t.data.length}`);
  }
  // Copy into a fresh little-endian byte array (typed arrays are host-endian, which is little-endian on every platform Node supports).
  const raw = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  return { name: t.name, dataType: ONNX_DTYPE_CODES[t.dtype], dims: t.dims, rawData: raw };
}

/** Serialises a graph to the bytes of an `.onnx` file. */
export function buildOnnxModel(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: onnx.Version.IR_VERSION,
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    producerName: spec.producer ?? "evoflow",
    docString: spec.docString,
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: spec.name ?? "graph",
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(initializer),
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.op.toLowerCase()}_${i}`,
        opType: n.op,
        domain: "",
        input: n.inputs,
        output: n.outputs,
        attribute: n.attributes ?? [],
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export type Activation = "linear" | "relu" | "sigmoid" | "tanh" | "softmax";

const ACTIVATION_OP: Record<Exclude<Activation, "linear">, string> = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", softmax: "Softmax" };

export interface DenseLayer {
  /**
   * Kernel of shape [inputs, units], so y = x·W + b (the layout of a tfjs Dense kernel):
   * either rows (`weights[i][j]`) or a flat row-major array whose length is inputs × units.
   */
  weights: ArrayLike<number> | ArrayLike<number>[];
  /** One value per unit; omitted means no bias. */
  bias?: ArrayLike<number>;
  activation?: Activation;
}

export interface MlpSpec {
  /** Features per example: the input is [batch, inputSize]. */
  inputSize: number;
  layers: DenseLayer[];
  inputName?: string;
  outputName?: string;
  /** The batch dimension: a name (default "batch"), -1 for an anonymous dynamic one, or a fixed size. */
  batch?: Dim;
  /** Use MatMul + Add instead of Gemm (e.g. for runtimes without Gemm). */
  matmul?: boolean;
  name?: string;
  producer?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

function flattenKernel(weights: DenseLayer["weights"], inputs: number, layer: number): { data: Float32Array; units: number } {
  const first = weights[0];
  if (weights.length > 0 && typeof first === "object" && first !== null) {
    const rows = weights as ArrayLike<number>[];
    if (rows.length !== inputs) throw new Error(`layer ${layer}: kernel has ${rows.length} rows, expected ${inputs} (one per input)`);
    const units = rows[0].length;
    const data = new Float32Array(inputs * units);
    for (let i = 0; i < inputs; i++) {
      if (rows[i].length !== units) throw new Error(`layer ${layer}: kernel row ${i} has ${rows[i].length} values, expected ${units}`);
      data.set(Array.from(rows[i]), i * units);
    }
    return { data, units };
  }
  const flat = weights as ArrayLike<number>;
  if (flat.length === 0 || flat.length % inputs !== 0) {
    throw new Error(`layer ${layer}: flat kernel of ${flat.length} values is not a multiple of its ${inputs} inputs`);
  }
  return { data: Float32Array.from(flat), units: flat.length / inputs };
}

/** Serialises a dense network (float32, input [batch, inputSize]) to ONNX bytes. */
export function buildMlp(spec: MlpSpec): Uint8Array {
  if (spec.layers.length === 0) throw new Error("an MLP needs at least one layer");
  const inputName = spec.inputName ?? "input";
  const outputName = spec.outputName ?? "output";
  const batch = spec.batch ?? "batch";
  const nodes: NodeSpec[] = [];
  const initializers: InitializerSpec[] = [];
  let current = inputName;
  let width = spec.inputSize;

  spec.layers.forEach((layer, i) => {
    const { data, units } = flattenKernel(layer.weights, width, i);
    const last = i === spec.layers.length - 1;
    const activation = layer.activation ?? "linear";
    const dense = activation === "linear" && last ? outputName : `dense_${i}`;
    initializers.push({ name: `W${i}`, dtype: "float32", dims: [width, units], data });
    if (layer.bias && layer.bias.length !== units) throw new Error(`layer ${i}: bias has ${layer.bias.length} values, expected ${units}`);
    if (layer.bias) initializers.push({ name: `B${i}`, dtype: "float32", dims: [units], data: Float32Array.from(layer.bias) });

    if (layer.bias && !spec.matmul) {
      nodes.push({ op: "Gemm", inputs: [current, `W${i}`, `B${i}`], outputs: [dense] });
    } else if (layer.bias) {
      nodes.push({ op: "MatMul", inputs: [current, `W${i}`], outputs: [`matmul_${i}`] });
      nodes.push({ op: "Add", inputs: [`matmul_${i}`, `B${i}`], outputs: [dense] });
    } else {
      nodes.push({ op: "MatMul", inputs: [current, `W${i}`], outputs: [dense] });
    }
    current = dense;
    if (activation !== "linear") {
      const out = last ? outputName : `${activation}_${i}`;
      nodes.push({ op: ACTIVATION_OP[activation], inputs: [current], outputs: [out], attributes: activation === "softmax" ? [attr.int("axis", -1)] : [] });
      current = out;
    }
    width = units;
  });

  return buildOnnxModel({
    name: spec.name ?? "mlp",
    inputs: [{ name: inputName, dtype: "float32", shape: [batch, spec.inputSize] }],
    outputs: [{ name: outputName, dtype: "float32", shape: [batch, width] }],
    nodes,
    initializers,
    producer: spec.producer,
    docString: spec.docString,
    metadata: spec.metadata,
  });
}
