/**
 * Explaining one traced request after the fact (`POST /api/traces/:traceId/explain`, `evoflow
 * explain`, the trace view's buttons): the trace's model call is found by provenance (a message
 * tagged with a model version, whose parent is the tensor it was given), the same version is asked
 * again through the `models` service, and the explanation is kept in the trace as a message whose
 * parent is that input, so the trace shows it beside the output it explains. It is written to the
 * pipeline's `_explanations` stream as outputs are to edges: tapped, and on NATS stored in the
 * pipeline's JetStream stream, where every process's trace and `evoflow tap --nats` read it.
 */
import { createMessage, EXPLANATIONS_STREAM, isTensor, z, type Explanation, type Message, type ModelService, type PipelineView, type Tensor, type Trace } from "../../sdk";
import { explainWithOcclusion, explainWithShap, occlusionOptions, shapOptions } from "./explain";
import type { ExplainProgress } from "./kernel-shap";
import { modelScorer, tensorValues } from "./model-scorer";

/** The `source.node` of explanations made on demand: no node of the pipeline made them. */
export const ON_DEMAND_SOURCE = "explain";

const which = {
  node: z.string().optional().describe("The model node whose call is explained, when the trace passed through several"),
  input: z.string().optional().describe("The model input the traced tensor fed; the model's only input when absent"),
  output: z.string().optional().describe("The model output explained; the model's first output when absent"),
};

export const explainRequest = z.discriminatedUnion("method", [
  shapOptions.extend({
    method: z.literal("kernel-shap"),
    ...which,
    background: z
      .union([z.number().int().min(1).max(1000), z.array(z.array(z.number()).min(1)).min(1).max(1000)])
      .default(32)
      .describe("Background rows, or how many of the model's recent inputs (its input edge's tap) to use as the background"),
  }),
  occlusionOptions.extend({ method: z.literal("occlusion"), ...which }),
]);
export type ExplainRequest = z.output<typeof explainRequest>;

/** A request that cannot be answered, with the HTTP status it gets. */
export class ExplainError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ExplainAnswer {
  traceId: string;
  pipeline: string;
  /** The explanation's message id in the trace; absent when the pipeline runs elsewhere and nothing was kept here. */
  messageId?: string;
  explanation: Explanation;
}

/** The model call of a trace to explain: the message a model emitted, and the tensor it was given. */
function findModelCall(trace: Trace, node: string | undefined): { output: Message; input: Message } {
  const byId = new Map(trace.messages.map((m) => [m.id, m]));
  const calls = trace.messages.flatMap((output) => {
    const input = byId.get(output.parents[0]);
    return output.source.model && output.source.node !== ON_DEMAND_SOURCE && input && isTensor(input.payload) ? [{ output, input }] : [];
  });
  if (calls.length === 0) throw new ExplainError(422, `trace ${trace.traceId} holds no model call with a tensor input to explain`);
  const nodes = [...new Set(calls.map((c) => c.output.source.node))];
  if (node === undefined && nodes.length > 1) throw new ExplainError(400, `trace ${trace.traceId} passed models in nodes ${nodes.join(", ")}: say which with "node"`);
  const chosen = calls.filter((c) => c.output.source.node === (node ?? nodes[0]));
  if (chosen.length === 0) throw new ExplainError(404, `trace ${trace.traceId} has no model call in node "${node}" (it has ${nodes.join(", ")})`);
  return chosen[chosen.length - 1];
}

/** The model's recent inputs, from the tap of the edge that fed the explained call, the explained one left out. */
function recentInputs(view: PipelineView | undefined, call: { output: Message; input: Message }, count: number, size: number): Float64Array[] {
  const edge = view?.edges.find((e) => e.to.node === call.output.source.node && e.from.node === call.input.source.node && e.from.port === call.input.source.port);
  const rows = edge
    ? view!
        .edgeMessages(edge.id, count + 1)
        .filter((m) => m.id !== call.input.id && isTensor(m.payload) && m.payload.data.length === size)
        .slice(-count)
        .map((m) => tensorValues(m.payload as Tensor, "a background input"))
    : [];
  if (rows.length === 0)
    throw new ExplainError(422, `no background for Kernel SHAP: the edge into node "${call.output.source.node}" holds no other inputs here; send more requests, or pass "background" rows`);
  return rows;
}

export async function explainTrace(
  host: { trace(traceId: string): Promise<Trace | undefined>; pipeline(name: string): PipelineView | undefined },
  models: ModelService,
  traceId: string,
  request: ExplainRequest,
  progress?: ExplainProgress,
): Promise<ExplainAnswer> {
  const trace = await host.trace(traceId);
  if (!trace) throw new ExplainError(404, `trace ${traceId} not found`);
  const call = findModelCall(trace, request.node);
  const model = { name: call.output.source.model!.name, version: Number(call.output.source.model!.version) };
  const input = call.input.payload as Tensor;
  let explanation: Explanation;
  try {
    const scorer = await modelScorer(models, model, input, request);
    if (request.method === "kernel-shap") {
      const size = scorer.x.length;
      const background = Array.isArray(request.background) ? request.background.map((row) => Float64Array.from(row)) : recentInputs(host.pipeline(trace.pipeline), call, request.background, size);
      const wrong = background.findIndex((row) => row.length !== size);
      if (wrong >= 0) throw new ExplainError(400, `background[${wrong}] has ${background[wrong].length} features, the input ${size}`);
      explanation = await explainWithShap(scorer, background, request, progress);
    } else explanation = await explainWithOcclusion(scorer, request, progress);
  } catch (err) {
    throw err instanceof ExplainError ? err : new ExplainError(422, (err as Error).message);
  }
  explanation.explains = call.output.id;
  const view = host.pipeline(trace.pipeline);
  // In the request's trace (its traceId), a child of the input it explains.
  const message = createMessage({ pipeline: trace.pipeline, node: ON_DEMAND_SOURCE, port: request.method, model }, explanation, [call.input]);
  await view?.publish(EXPLANATIONS_STREAM, message);
  return { traceId, pipeline: trace.pipeline, messageId: view ? message.id : undefined, explanation };
}
