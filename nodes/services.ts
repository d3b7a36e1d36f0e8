/**
 * The keys of the runtime's shared services that Evoflow's own nodes use (runtime/services.ts
 * provides them). Declared here, beside the nodes, because their types are the runtime's.
 */
import type { ModelService } from "../sdk/models";
import type { PythonWorkers } from "../sdk/python";
import type { ModelRegistry } from "../sdk/registry";
import type { RolloutRouter } from "./continual-learning/rollout";
import { defineService } from "../sdk";

export const models = defineService<ModelService>("models");
export const registry = defineService<ModelRegistry>("registry");
export const rollouts = defineService<RolloutRouter>("cl.rollouts");
export const python = defineService<PythonWorkers>("python");
