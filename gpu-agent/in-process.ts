/**
 * The `models` service a runtime gives its nodes. By default the in-process agent
 * (the embedded default): a ModelHost on onnxruntime fed from the registry, its
 * artifact cache under the data folder, its budget from `EVOFLOW_AGENT_MEMORY`
 * (default 2GB), its sessions' intra-op threads from `EVOFLOW_AGENT_INTRA_OP_THREADS`
 * (default 1, see gpu-agent/onnxruntime.ts), its session worker threads from
 * `EVOFLOW_AGENT_WORKERS` (default 0: sessions in the main thread); sklearn and python models
 * in Python workers too when the runtime grants `exec` (`allowExec`). With `EVOFLOW_AGENTS_NATS=<url>`, models run on `evoflow agent`s
 * over NATS instead, placed by the scheduler in gpu-agent/nats.ts.
 */
import { join } from "node:path";
import type { ModelRegistry } from "../sdk/registry";
import { ModelHost } from "./host";
import { parseSize } from "./sizes";
import { ByFormat } from "./by-format";
import { OnnxRuntimeBackend } from "./onnxruntime";
import { PythonModelsBackend } from "./python-models";
import { LocalModels, type ModelService } from "./service";

export interface InProcessAgentOptions {
  dataDir: string;
  registry: ModelRegistry;
  memory?: string;
  /** Load sklearn and python models (their loading runs code): the runtime grants exec. */
  allowExec?: boolean;
  /** Their workers' interpreter (default python3). */
  python?: string;
}

export function createInProcessAgent(options: InProcessAgentOptions): LocalModels {
  const env = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const onnx = new OnnxRuntimeBackend({ intraOpThreads: env("EVOFLOW_AGENT_INTRA_OP_THREADS"), workers: env("EVOFLOW_AGENT_WORKERS") });
  const backend = options.allowExec ? new ByFormat([onnx, new PythonModelsBackend({ allowExec: true, interpreter: options.python })]) : onnx;
  const host = new ModelHost({
    backend,
    memoryBytes: parseSize(options.memory ?? process.env.EVOFLOW_AGENT_MEMORY ?? "2GB"),
    cacheDir: join(options.dataDir, "agent-cache"),
    source: LocalModels.registrySource(options.registry),
  });
  return new LocalModels(host, options.registry);
}

export async function createModelService(options: InProcessAgentOptions): Promise<ModelService> {
  const natsUrl = process.env.EVOFLOW_AGENTS_NATS;
  if (!natsUrl) return createInProcessAgent(options);
  // The NATS client loads only when agents are on NATS.
  const [{ connect }, { NatsModels }] = await Promise.all([import("@nats-io/transport-node"), import("./nats")]);
  const nc = await connect({ servers: natsUrl, name: "evoflow-scheduler" });
  const models = new NatsModels(nc, { registry: options.registry });
  await models.start();
  return models;
}
