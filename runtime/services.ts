/**
 * The shared services a runtime gives its nodes (`ctx.service(name)`), built once
 * per process. Each area adds its own entry here.
 */
import { join } from "node:path";
import { createModelService } from "../gpu-agent";
import { RolloutRouter } from "../nodes/continual-learning/rollout";
import { openModelRegistry } from "./registry/open";

export interface ServiceOptions {
  dataDir: string;
}

export async function createServices(options: ServiceOptions): Promise<Record<string, unknown>> {
  // Like the `evoflow model` commands: EVOFLOW_REGISTRY_NATS or EVOFLOW_REGISTRY (a folder, nats:// or
  // mongodb:// location) when set, so every process of a distributed run shares one; else the data folder.
  const registry = await openModelRegistry(
    process.env.EVOFLOW_REGISTRY_NATS || process.env.EVOFLOW_REGISTRY || join(options.dataDir, "registry"),
  );
  return {
    registry,
    models: await createModelService({ dataDir: options.dataDir, registry }),
    "cl.rollouts": new RolloutRouter(),
  };
}
