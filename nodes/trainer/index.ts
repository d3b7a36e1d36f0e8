import type { NodeDefinition } from "../../runtime/node-contract";
import externalTrainer from "./external";
import tfjsTrainer from "./tfjs";

export const trainerNodes: NodeDefinition[] = [tfjsTrainer, externalTrainer];
