/**
 * `GET /api/alarms/:id/rca?alpha=0.05&correction=bonferroni|fdr&mmd=true`: the upstream
 * root-cause analysis of a kept drift alarm (rca.ts). The alarms themselves are listed by the
 * runtime's `GET /api/alarms`. A route of Evoflow's own node package (nodes/package.json
 * "routes"), behind the runtime's access checks (a viewer may read it).
 */
import type { FastifyInstance } from "fastify";
import type { RouteHost } from "../../sdk";
import { rootCause } from "./rca";

export default async function rcaRoutes(app: FastifyInstance, runtime: RouteHost): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: { alpha?: string; correction?: string; mmd?: string } }>("/api/alarms/:id/rca", async (req, reply) => {
    const { alpha = "0.05", correction = "bonferroni", mmd = "false" } = req.query;
    const level = Number(alpha);
    if (!(level > 0 && level < 1)) return reply.status(400).send({ error: `alpha must be a number between 0 and 1 (exclusive), got "${alpha}"`, path: "$.query.alpha" });
    if (correction !== "bonferroni" && correction !== "fdr") return reply.status(400).send({ error: `correction must be "bonferroni" or "fdr", got "${correction}"`, path: "$.query.correction" });
    if (mmd !== "true" && mmd !== "false") return reply.status(400).send({ error: `mmd must be "true" or "false", got "${mmd}"`, path: "$.query.mmd" });
    const alarm = runtime.alarm(req.params.id);
    if (!alarm) return reply.status(404).send({ error: `alarm ${req.params.id} not found: it is not among the alarms kept by a pipeline deployed here (settings.rca.alarms)` });
    return rootCause(alarm, { alpha: level, correction, mmd: mmd === "true" });
  });
}
