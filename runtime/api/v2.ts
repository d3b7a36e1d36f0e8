/**
 * The runtime's `/v2` routes (the Open Inference Protocol, served by the agent's code:
 * gpu-agent/v2-routes.ts). A sync pipeline (an `io.http` entry point) is called like a
 * model: one input becomes the payload as a Tensor, several become a record of Tensors by
 * name. A Tensor in reply is the output "output" (or the one output name the request asked
 * for); a record of Tensors gives one output per key; any other reply is one BYTES output
 * holding its JSON. Registry models come after, through the `models` service.
 */
import type { FastifyInstance } from "fastify";
import { isTensor, type Tensor } from "../../sdk/ports";
import { HttpError, registerRuntimeV2Routes, runtimeV2Provider, type ModelService, type V2Provider } from "../../gpu-agent";
import type { Runtime } from "../runtime";

function pipelineOutputs(payload: unknown, asked: string[] | undefined): { name: string; tensor: Tensor }[] {
  if (isTensor(payload)) return [{ name: asked?.length === 1 ? asked[0] : "output", tensor: payload }];
  if (typeof payload === "object" && payload !== null && !Array.isArray(payload) && Object.values(payload).length > 0 && Object.values(payload).every(isTensor)) {
    const all = Object.entries(payload as Record<string, Tensor>).map(([name, tensor]) => ({ name, tensor }));
    if (!asked) return all;
    return asked.map((name) => {
      const found = all.find((o) => o.name === name);
      if (!found) throw new HttpError(400, `the pipeline has no output "${name}" (it gives ${all.map((o) => `"${o.name}"`).join(", ")})`);
      return found;
    });
  }
  return [{ name: "output", tensor: { dtype: "string", shape: [1], data: [JSON.stringify(payload)] } }];
}

/** Sync pipelines (their `io.http` entry points) by name. */
export function pipelinesV2Provider(runtime: Runtime): V2Provider {
  return {
    async metadata(name, version) {
      if (!runtime.entrypoint(name) || version) return undefined;
      return { name, versions: [], platform: "evoflow_pipeline", inputs: [], outputs: [] };
    },
    async infer(name, version, inputs, outputs, traceId) {
      const entry = runtime.entrypoint(name);
      if (!entry || version) return undefined;
      const values = Object.values(inputs);
      const [reply] = await entry.invoke(values.length === 1 ? values[0] : inputs, { traceId });
      if (!reply) throw new HttpError(500, `pipeline ${name} gave no reply on its sync path`);
      const model = reply.source.model;
      return { modelName: name, modelVersion: model ? `${model.name}@${model.version}` : undefined, outputs: pipelineOutputs(reply.payload, outputs) };
    },
  };
}

/** What the runtime serves over gRPC: the same as its `/v2` routes. */
export const runtimeGrpcProvider = (runtime: Runtime): V2Provider =>
  runtimeV2Provider({ models: runtime.services.models as ModelService | undefined, first: [pipelinesV2Provider(runtime)] });

/** The runtime's plugin: `/v2` for sync pipelines and registry models, `GET /api/agent` for the in-process agent. */
export async function v2Routes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  await registerRuntimeV2Routes(app, { models: runtime.services.models as ModelService | undefined, first: [pipelinesV2Provider(runtime)], metrics: runtime.metrics.registry });
}
