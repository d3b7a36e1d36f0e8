/**
 * ONNX element types under the names Evoflow uses everywhere else (`sdk/ports.ts` DTYPES),
 * plus the ONNX-only ones so a signature can describe any model file.
 */
import type { OnnxDType } from "../sdk/registry";
import { onnx } from "./proto";

const DataType = onnx.TensorProto.DataType;

export const ONNX_DTYPE_CODES = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  int8: DataType.INT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
  complex64: DataType.COMPLEX64,
  complex128: DataType.COMPLEX128,
} as const satisfies Record<OnnxDType, number>;

export type { OnnxDType };

const NAME_OF_CODE = new Map<number, OnnxDType>(
  Object.entries(ONNX_DTYPE_CODES).map(([name, code]) => [code as number, name as OnnxDType]),
);

/** The dtype name of an ONNX `TensorProto.DataType` code, or undefined for an unknown code. */
export function dtypeOfCode(code: number): OnnxDType | undefined {
  return NAME_OF_CODE.get(code);
}
