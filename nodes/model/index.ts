import type { NodeDefinition } from "../../sdk";
import bandit from "./bandit";
import online from "./online";
import onnx from "./onnx";

export const modelNodes: NodeDefinition[] = [onnx, online, bandit];
