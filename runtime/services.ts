/**
 * The shared services a runtime gives its nodes (`ctx.service(name)`), built once
 * per process: the registry and models here, then those the loaded node packages give
 * (their package.json "services", as Evoflow's own gives the CL rollouts).
 */
import { join } from "node:path";
import { createModelService } from "../gpu-agent";
import { createPythonWorkers } from "../python/pool";
import { nodeTypes } from "./node-types";
import type { NodePackage } from "./packages/load";
import { packageServices } from "./packages/extensions";
import { openModelRegistry } from "./registry/open";

export interface ServiceOptions {
  dataDir: string;
  /** The node packages loaded (NodeTypes.packages); default: the built-in package. */
  packages?: readonly NodePackage[];
  /** The Python interpreter of the `python` service's workers: the settings' "python", else EVOFLOW_PYTHON, else python3. */
  python?: string;
  /** The runtime grants `exec`: its in-process agent then loads sklearn and python models (their loading runs code). */
  allowExec?: boolean;
}

export async function createServices(options: ServiceOptions): Promise<Record<string, unknown>> {
  // Like the `evoflow model` commands: EVOFLOW_REGISTRY_NATS or EVOFLOW_REGISTRY (a folder, nats:// or
  // mongodb:// location) when set, so every process of a distributed run shares one; else the data folder.
  const registry = await openModelRegistry(
    process.env.EVOFLOW_REGISTRY_NATS || process.env.EVOFLOW_REGISTRY || join(options.dataDir, "registry"),
  );
  return {
    registry,
    models: await createModelService({ dataDir: options.dataDir, registry, allowExec: options.allowExec, python: options.python || process.env.EVOFLOW_PYTHON || undefined }),
    // No process starts here: each node that asks starts its own pool, and stops it on undeploy.
    python: createPythonWorkers({ interpreter: options.python || process.env.EVOFLOW_PYTHON || undefined }),
    ...(await packageServices(options.packages ?? nodeTypes.packages, { dataDir: options.dataDir })),
  };
}

/**
 * Closes the services `createServices` made that can be closed (the registry's champion watch,
 * the model host's sessions, a package's own), last made first: the model host before the
 * registry it reads. For a process that makes services more than once (`evoflow test --watch`).
 */
export async function closeServices(services: Record<string, unknown>): Promise<void> {
  for (const service of Object.values(services).reverse()) {
    const close = (service as { close?: unknown } | null)?.close;
    if (typeof close === "function") await close.call(service);
  }
}
