import type { NodeDefinition } from "../../sdk";
import pythonFunction from "./function";

export const pythonNodes: NodeDefinition[] = [pythonFunction];
