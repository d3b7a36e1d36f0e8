/**
 * The keys of the runtime's shared services that Evoflow's own nodes use (runtime/services.ts
 * provides them; every Runtime gives `metrics` itself). Declared here, beside the nodes, because
 * their types are the runtime's.
 */
import type { MetricsService } from "../sdk/metrics";
import type { ModelService } from "../sdk/models";
import type { PythonWorkers } from "../sdk/python";
import type { ModelRegistry } from "../sdk/registry";
import type { RolloutRouter } from "./continual-learning/rollout";
import type { LabelQueues } from "./sampler/label-queue";
import { defineService } from "../sdk";

export const models = defineService<ModelService>("models");
export const metrics = defineService<MetricsService>("metrics");
export const registry = defineService<ModelRegistry>("registry");
export const rollouts = defineService<RolloutRouter>("cl.rollouts");
export const python = defineService<PythonWorkers>("python");
export const labelQueues = defineService<LabelQueues>("sampler.label-queues");
