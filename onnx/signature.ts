/**
 * Reads a model's signature (input/output names, dtypes, shapes) from the bytes of an
 * `.onnx` file, decoding the protobuf with `onnx-proto` — no runtime session needed, so the
 * registry can check and describe an artifact without loading it.
 */
import type { OnnxProto } from "./proto";
import { onnx } from "./proto";
import type { ModelSignature, TensorSignature } from "../sdk/registry";
import { dtypeOfCode } from "./dtypes";

// The signature types are the registry's (sdk/registry.ts), exported here too for their readers.
export type { ModelSignature, TensorSignature } from "../sdk/registry";

/** The bytes are not an ONNX model; the message says what is wrong. */
export class InvalidOnnxModelError extends Error {
  constructor(reason: string) {
    super(`not a valid ONNX model: ${reason}`);
    this.name = "InvalidOnnxModelError";
  }
}

function describeValue(v: OnnxProto.onnx.IValueInfoProto, where: string): TensorSignature {
  const name = v.name ?? "";
  if (!name) throw new InvalidOnnxModelError(`${where} has no name`);
  const type = v.type;
  if (!type) throw new InvalidOnnxModelError(`${where} "${name}" has no type`);
  const tensor = type.tensorType ?? type.sparseTensorType;
  if (tensor) {
    const dtype = dtypeOfCode(tensor.elemType ?? 0);
    if (!dtype) throw new InvalidOnnxModelError(`${where} "${name}" has unknown element type ${tensor.elemType ?? 0}`);
    const kind = type.tensorType ? "tensor" : "sparse_tensor";
    if (!tensor.shape) return { name, kind, dtype };
    const dims = tensor.shape.dim ?? [];
    const shape = dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : -1));
    const dimNames = dims.map((d) => (d.dimParam ? d.dimParam : null));
    return { name, kind, dtype, shape, dimNames };
  }
  if (type.sequenceType) return { name, kind: "sequence" };
  if (type.mapType) return { name, kind: "map" };
  if (type.optionalType) return { name, kind: "optional" };
  throw new InvalidOnnxModelError(`${where} "${name}" has a type of no known kind`);
}

/** Decodes the model; throws `InvalidOnnxModelError` for bytes that are not a usable ONNX model. */
export function decodeModel(bytes: Uint8Array): OnnxProto.onnx.ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new InvalidOnnxModelError("expected the file's bytes");
  if (bytes.length === 0) throw new InvalidOnnxModelError("the file is empty");
  let model: OnnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new InvalidOnnxModelError(`protobuf decoding failed (${(err as Error).message})`);
  }
  // Protobuf decoding accepts many byte strings that are not models, so check what every model has.
  if (!model.irVersion || Number(model.irVersion) <= 0) throw new InvalidOnnxModelError("no ir_version");
  if (!model.graph) throw new InvalidOnnxModelError("no graph");
  if (!model.opsetImport?.length) throw new InvalidOnnxModelError("no opset_import");
  if (!model.graph.output?.length) throw new InvalidOnnxModelError("the graph has no outputs");
  model.graph.node?.forEach((n, i) => {
    if (!n.opType) throw new InvalidOnnxModelError(`graph node ${i} has no op_type`);
  });
  return model;
}

/** The model's signature, read from the file's bytes. */
export function readSignature(bytes: Uint8Array): ModelSignature {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  // Before IR 4, initializers were listed among the inputs too; they are weights, not inputs.
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return {
    inputs: (graph.input ?? []).filter((v) => !initializers.has(v.name ?? "")).map((v) => describeValue(v, "graph input")),
    outputs: (graph.output ?? []).map((v) => describeValue(v, "graph output")),
    irVersion: Number(model.irVersion),
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain ?? "", version: Number(o.version ?? 0) })),
    producer: model.producerName || undefined,
    graphName: graph.name || undefined,
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""])),
  };
}
