import type { NodeDefinition } from "../../runtime/node-contract";
import onnx from "./onnx";

export const modelNodes: NodeDefinition[] = [onnx];
