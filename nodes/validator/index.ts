import type { NodeDefinition } from "../../runtime/node-contract";
import gate from "./gate";

export const validatorNodes: NodeDefinition[] = [gate];
