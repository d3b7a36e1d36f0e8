/**
 * The shared services a runtime gives its nodes (`ctx.service(name)`), built once
 * per process: the registry and models here, then those the loaded node packages give
 * (their package.json "services", as Evoflow's own gives the CL rollouts).
 */
import { join } from "node:path";
import { createModelService } from "../gpu-agent";
import { nodeTypes } from "./node-types";
import type { NodePackage } from "./packages/load";
import { packageServices } from "./packages/extensions";
import { openModelRegistry } from "./registry/open";

export interface ServiceOptions {
  dataDir: string;
  /** The node packages loaded (NodeTypes.packages); default: the built-in package. */
  packages?: readonly NodePackage[];
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
    ...(await packageServices(options.packages ?? nodeTypes.packages, { dataDir: options.dataDir })),
  };
}
