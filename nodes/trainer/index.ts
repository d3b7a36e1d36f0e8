import type { NodeDefinition } from "../../sdk";
import externalTrainer from "./external";
import sklearnTrainer from "./sklearn";
import tfjsTrainer from "./tfjs";

export const trainerNodes: NodeDefinition[] = [tfjsTrainer, sklearnTrainer, externalTrainer];
