/**
 * `POST /api/traces/:traceId/explain`: explains the model call of one traced request and keeps
 * the explanation in the trace (on-demand.ts). Body: `{"method": "kernel-shap" | "occlusion", ...}`
 * with the options of explain.ts. A route of Evoflow's own node package (nodes/package.json
 * "routes"), behind the runtime's access checks: a POST, so it needs the operator role, as it
 * adds to the trace and runs the model many times.
 */
import type { FastifyInstance } from "fastify";
import type { RouteHost } from "../../sdk";
import { models as modelsKey } from "../services";
import { ExplainError, explainRequest, explainTrace } from "./on-demand";

export default async function explainRoutes(app: FastifyInstance, host: RouteHost): Promise<void> {
  app.post<{ Params: { traceId: string } }>("/api/traces/:traceId/explain", async (req, reply) => {
    const parsed = explainRequest.safeParse(req.body ?? {});
    if (!parsed.success)
      return reply.status(400).send({ error: "invalid explain request", problems: parsed.error.issues.map((i) => ({ path: ["$", ...i.path].join("."), message: i.message })) });
    const models = host.service(modelsKey);
    if (!models) return reply.status(404).send({ error: 'this runtime has no "models" service to run the model with' });
    try {
      return await explainTrace(host, models, req.params.traceId, parsed.data);
    } catch (err) {
      if (err instanceof ExplainError) return reply.status(err.status).send({ error: err.message });
      throw err;
    }
  });
}
