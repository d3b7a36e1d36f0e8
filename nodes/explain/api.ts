/**
 * `POST /api/traces/:traceId/explain`: explains the model call of one traced request and keeps
 * the explanation in the trace (on-demand.ts). Body: `{"method": "kernel-shap" | "occlusion", ...}`
 * with the options of explain.ts. A route of Evoflow's own node package (nodes/package.json
 * "routes"), behind the runtime's access checks: a POST, so it needs the operator role, as it
 * adds to the trace and runs the model many times.
 *
 * An explanation can take seconds (Kernel SHAP scores samples × background rows). A client that
 * accepts `application/x-ndjson` gets its progress as it goes: `{"progress":{"done","total"}}`
 * lines in model rows, then the answer (or `{"error","status"}`) as the last line. The stream
 * starts at the first progress, so a request refused before any model row still gets its 4xx.
 */
import { PassThrough } from "node:stream";
import type { FastifyInstance } from "fastify";
import { stringify, type RouteHost } from "../../sdk";
import { models as modelsKey } from "../services";
import { ExplainError, explainRequest, explainTrace } from "./on-demand";

const NDJSON = "application/x-ndjson";

export default async function explainRoutes(app: FastifyInstance, host: RouteHost): Promise<void> {
  app.post<{ Params: { traceId: string } }>("/api/traces/:traceId/explain", async (req, reply) => {
    const parsed = explainRequest.safeParse(req.body ?? {});
    if (!parsed.success)
      return reply.status(400).send({ error: "invalid explain request", problems: parsed.error.issues.map((i) => ({ path: ["$", ...i.path].join("."), message: i.message })) });
    const models = host.service(modelsKey);
    if (!models) return reply.status(404).send({ error: 'this runtime has no "models" service to run the model with' });
    let stream: PassThrough | undefined;
    const progress = (req.headers.accept ?? "").includes(NDJSON)
      ? (done: number, total: number) => {
          if (!stream) reply.type(NDJSON).send((stream = new PassThrough()));
          stream.write(`${JSON.stringify({ progress: { done, total } })}\n`);
        }
      : undefined;
    try {
      const answer = await explainTrace(host, models, req.params.traceId, parsed.data, progress);
      if (!stream) return answer;
      stream.end(`${stringify(answer)}\n`);
    } catch (err) {
      if (stream) stream.end(`${JSON.stringify({ error: (err as Error).message, status: err instanceof ExplainError ? err.status : 500 })}\n`);
      else if (err instanceof ExplainError) return reply.status(err.status).send({ error: err.message });
      else throw err;
    }
    return reply;
  });
}
