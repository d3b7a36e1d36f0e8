/**
 * The ONNX protobuf classes from `onnx-proto`. The package is CommonJS with an export Node's
 * ESM loader cannot see by name, so it is loaded through `require`; its typings still apply.
 */
import { createRequire } from "node:module";
import type * as OnnxProto from "onnx-proto";

export const onnx: typeof OnnxProto.onnx = (createRequire(import.meta.url)("onnx-proto") as typeof OnnxProto).onnx;
export type { OnnxProto };
