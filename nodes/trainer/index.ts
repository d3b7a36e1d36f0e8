import type { NodeDefinition } from "../../runtime/node-contract";
import tfjsTrainer from "./tfjs";

export const trainerNodes: NodeDefinition[] = [tfjsTrainer];
