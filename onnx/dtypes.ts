/**
 * ONNX element types under the names Evoflow uses everywhere else (`sdk/ports.ts` DTYPES),
 * plus the ONNX-only ones so a signature can describe any model file.
 */
import type { OnnxDType } from "../sdk/registry";

/**
 * `TensorProto.DataType`'s codes, fixed by onnx.proto itself (test/onnx/build.test.ts checks
 * them against onnx-proto's enum): written out so a process that never touches a model file
 * need not load the protobuf classes.
 */
export const ONNX_DTYPE_CODES = {
  float32: 1,
  float64: 11,
  float16: 10,
  bfloat16: 16,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  uint8: 2,
  uint16: 4,
  uint32: 12,
  uint64: 13,
  bool: 9,
  string: 8,
  complex64: 14,
  complex128: 15,
} as const satisfies Record<OnnxDType, number>;

export type { OnnxDType };

const NAME_OF_CODE = new Map<number, OnnxDType>(
  Object.entries(ONNX_DTYPE_CODES).map(([name, code]) => [code as number, name as OnnxDType]),
);

/** The dtype name of an ONNX `TensorProto.DataType` code, or undefined for an unknown code. */
export function dtypeOfCode(code: number): OnnxDType | undefined {
  return NAME_OF_CODE.get(code);
}
