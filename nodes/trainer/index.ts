import type { NodeDefinition } from "../../sdk";
import externalTrainer from "./external";
import tfjsTrainer from "./tfjs";

export const trainerNodes: NodeDefinition[] = [tfjsTrainer, externalTrainer];
