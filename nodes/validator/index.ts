import type { NodeDefinition } from "../../sdk";
import gate from "./gate";

export const validatorNodes: NodeDefinition[] = [gate];
