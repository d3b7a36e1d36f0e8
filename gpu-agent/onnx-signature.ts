/** An ONNX model's inputs and outputs as the agent serves them: tensors of a dtype it carries, of known rank. */
import { readSignature } from "../onnx/signature";
import type { DType } from "../sdk/ports";
import type { Inspection } from "./backend";
import { TensorInputError, type TensorSpec } from "./tensors";

const CARRIED = ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float32", "float64", "string"];

export function onnxSignature(bytes: Uint8Array): Inspection {
  const signature = readSignature(bytes);
  const specs = (list: typeof signature.inputs, what: string): TensorSpec[] =>
    list.map((s) => {
      if (s.kind !== "tensor" || !s.dtype) throw new TensorInputError(`${what} "${s.name}" is a ${s.kind.replace("_", " ")}; the agent serves tensors only`);
      if (!s.shape)
        throw new TensorInputError(
          `${what} "${s.name}" is a ${s.dtype} tensor of unknown rank: the model file gives it no shape, not even its number of dimensions, and the agent needs that to check requests and describe the model (export the model with shapes, e.g. after onnx.shape_inference)`,
        );
      if (!CARRIED.includes(s.dtype)) throw new TensorInputError(`${what} "${s.name}" has dtype ${s.dtype}, which the agent cannot carry`);
      return { name: s.name, dtype: s.dtype as DType, shape: s.shape };
    });
  return { inputs: specs(signature.inputs, "input"), outputs: specs(signature.outputs, "output") };
}
