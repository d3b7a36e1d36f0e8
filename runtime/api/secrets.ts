/**
 * The secret store over HTTP (runtime/secrets.ts): names listed to viewers, set and removed by
 * operators (the access checks give every PUT and DELETE the operator role). No route returns a
 * value: a secret goes in and is used by nodes, never read back.
 */
import type { FastifyInstance } from "fastify";
import type { Runtime } from "../runtime";
import { SecretError } from "../secrets";

export async function secretRoutes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  app.get("/api/secrets", async () => ({ names: await runtime.secrets.names() }));

  app.put<{ Params: { name: string }; Body: { value?: unknown } }>("/api/secrets/:name", async (req, reply) => {
    const value = req.body?.value;
    if (typeof value !== "string" || value === "") return reply.status(400).send({ error: 'the body must be { "value": "<the secret>" } with a non-empty string' });
    try {
      await runtime.secrets.set(req.params.name, value);
    } catch (err) {
      if (err instanceof SecretError) return reply.status(400).send({ error: err.message });
      throw err;
    }
    return { name: req.params.name, set: true };
  });

  app.delete<{ Params: { name: string } }>("/api/secrets/:name", async (req, reply) => {
    try {
      if (!(await runtime.secrets.remove(req.params.name))) return reply.status(404).send({ error: `no secret "${req.params.name}"` });
    } catch (err) {
      if (err instanceof SecretError) return reply.status(400).send({ error: err.message });
      throw err;
    }
    return { name: req.params.name, removed: true };
  });
}
