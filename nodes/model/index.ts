import type { NodeDefinition } from "../../sdk";
import onnx from "./onnx";

export const modelNodes: NodeDefinition[] = [onnx];
