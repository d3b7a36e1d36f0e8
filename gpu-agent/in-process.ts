/**
 * The in-process agent a runtime gives its nodes as the `models` service (the
 * embedded default): a ModelHost on onnxruntime fed from the registry, its artifact
 * cache under the data folder. The budget comes from `EVOFLOW_AGENT_MEMORY`
 * (default 2GB).
 */
import { join } from "node:path";
import type { ModelRegistry } from "../runtime/registry/types";
import { ModelHost, parseSize } from "./host";
import { OnnxRuntimeBackend } from "./onnxruntime";
import { LocalModels } from "./service";

export function createInProcessAgent(options: { dataDir: string; registry: ModelRegistry; memory?: string }): LocalModels {
  const backend = new OnnxRuntimeBackend();
  const host = new ModelHost({
    backend,
    memoryBytes: parseSize(options.memory ?? process.env.EVOFLOW_AGENT_MEMORY ?? "2GB"),
    cacheDir: join(options.dataDir, "agent-cache"),
    source: LocalModels.registrySource(options.registry),
  });
  return new LocalModels(host, options.registry);
}
