/**
 * The shared services a runtime gives its nodes (`ctx.service(name)`), built once
 * per process. Each area adds its own entry here.
 */
import { join } from "node:path";
import { createModelService } from "../gpu-agent/in-process";
import { FsModelRegistry } from "./registry/fs";

export interface ServiceOptions {
  dataDir: string;
}

export async function createServices(options: ServiceOptions): Promise<Record<string, unknown>> {
  // The registry follows EVOFLOW_REGISTRY when set, like the `evoflow model` commands; else it lives in the data folder.
  const registry = new FsModelRegistry(process.env.EVOFLOW_REGISTRY || join(options.dataDir, "registry"));
  return {
    registry,
    models: await createModelService({ dataDir: options.dataDir, registry }),
  };
}
