/**
 * The ONNX protobuf classes from `onnx-proto`. The package is CommonJS with an export Node's
 * ESM loader cannot see by name, so it is loaded through `require`; its typings still apply.
 * Loaded at first use (with protobufjs, ~7 MB of RSS): most processes never read or build a
 * model file.
 */
import type * as OnnxProto from "onnx-proto";
import { lazyObject, lazyRequire } from "../sdk/lazy-require";

const onnxProto = lazyRequire<typeof OnnxProto>(import.meta.url, "onnx-proto");
export const onnx: typeof OnnxProto.onnx = lazyObject(() => onnxProto.onnx);
export type { OnnxProto };
