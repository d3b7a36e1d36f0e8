/**
 * The shared services a runtime gives its nodes (`ctx.service(name)`), built once
 * per process. Each area adds its own entry here.
 */
import { join } from "node:path";
import { createModelService } from "../gpu-agent/in-process";
import { FsModelRegistry } from "./registry/fs";
import { NatsModelRegistry } from "./registry/nats";

export interface ServiceOptions {
  dataDir: string;
}

export async function createServices(options: ServiceOptions): Promise<Record<string, unknown>> {
  // The registry follows EVOFLOW_REGISTRY when set, like the `evoflow model` commands; else it lives in the data folder.
  // EVOFLOW_REGISTRY_NATS=<url> puts it on NATS (KV + Object Store), shared by every process of a distributed run.
  const registry = process.env.EVOFLOW_REGISTRY_NATS
    ? await NatsModelRegistry.connect({ servers: process.env.EVOFLOW_REGISTRY_NATS.split(",") })
    : new FsModelRegistry(process.env.EVOFLOW_REGISTRY || join(options.dataDir, "registry"));
  return {
    registry,
    models: await createModelService({ dataDir: options.dataDir, registry }),
  };
}
