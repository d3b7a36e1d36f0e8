/**
 * Continual-learning routes: a service's update history and a model version's card.
 *   GET /api/services/:name/history        every update, accepted or rejected, oldest first, with its rollout in words
 *   GET /api/models/:name/:version/card    version: a number, "champion" or "latest"
 *   GET /api/rollouts                      shadow and canary rollouts running, and each model's last finished one
 * Routes of Evoflow's own node package (nodes/package.json "routes"), served by the runtime behind its access checks.
 */
import type { FastifyInstance } from "fastify";
import { parseModelRef, RegistryError, type RouteHost } from "../../sdk";
import { registry as registryKey, rollouts as rolloutsKey } from "../services";
import { findModelCard, historyRoot, HistoryStore } from "./history";
import { rolloutSummary } from "./rollout-summary";
import type { ServiceHistory } from "../../sdk/api-types";

export default async function clRoutes(app: FastifyInstance, runtime: RouteHost): Promise<void> {
  const history = new HistoryStore(historyRoot(runtime.dataDir));
  const registry = runtime.service(registryKey);
  const rollouts = runtime.service(rolloutsKey);

  app.get<{ Params: { name: string } }>("/api/services/:name/history", async (req, reply) => {
    const { name } = req.params;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) return reply.status(400).send({ error: `invalid service name "${name}"` });
    const entries = await history.list(name);
    if (!entries.length && !runtime.hasPipeline(name)) return reply.status(404).send({ error: `no CL service "${name}" (no history and no running pipeline of that name)` });
    // A pending entry's rollout is recorded as it started: show how far it has got.
    for (const e of entries) {
      const live = e.decision === "pending" ? rollouts?.get(e.model) : undefined;
      if (live && live.candidate === e.version) e.rollout = live.status();
    }
    const answer: ServiceHistory = { service: name, entries: entries.map((e) => ({ ...e, rolloutSummary: rolloutSummary(e.rollout, e.bandit) })) };
    return answer;
  });

  app.get("/api/rollouts", async (_req, reply) => {
    if (!rollouts) return reply.status(404).send({ error: 'this runtime has no "cl.rollouts" service: rollouts need the serving side in the same process' });
    return { rollouts: rollouts.list() };
  });

  app.get<{ Params: { name: string; version: string } }>("/api/models/:name/:version/card", async (req, reply) => {
    let ref;
    try {
      ref = parseModelRef(`${req.params.name}@${req.params.version}`).ref;
    } catch (err) {
      if (err instanceof RegistryError) return reply.status(400).send({ error: err.message });
      throw err;
    }
    const card = await findModelCard(registry, history, req.params.name, ref);
    return card ?? reply.status(404).send({ error: `no model ${req.params.name}@${req.params.version} in the registry or the CL history` });
  });
}
