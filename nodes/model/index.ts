import type { NodeDefinition } from "../../sdk";
import bandit from "./bandit";
import onnx from "./onnx";

export const modelNodes: NodeDefinition[] = [onnx, bandit];
