/**
 * The standalone agent's HTTP server (`evoflow agent`): the same `/v2` routes as the
 * runtime (models and Triton's repository extension, so one agent can stand in for a
 * Triton server), `GET /api/agent` for the host's status and `/metrics`.
 */
import Fastify, { type FastifyInstance } from "fastify";
import { collectDefaultMetrics, Registry } from "prom-client";
import { registerV2Routes } from "../runtime/api/v2";
import type { ModelHost } from "./host";
import type { ModelService } from "./service";
import { modelsV2Provider } from "./v2-provider";

export interface AgentServerOptions {
  models: ModelService;
  host: ModelHost;
  /** Largest request body, bytes (default 64 MiB: repository loads carry whole models in base64). */
  bodyLimit?: number;
  /** Registry versions of a model, for metadata; the host's own when absent. */
  versions?: (name: string) => Promise<number[]>;
  /** Extra status merged into `GET /api/agent` (NATS membership…). */
  status?: () => Record<string, unknown>;
}

export async function createAgentServer(options: AgentServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? 64 * 1024 * 1024;
  const app = Fastify({ bodyLimit });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    void reply.status(err.statusCode && err.statusCode >= 400 ? err.statusCode : 500).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => void reply.status(404).send({ error: `no route ${req.method} ${req.url}` }));

  const registry = new Registry();
  // Standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes, …) for existing dashboards; the agent's own are evoflow_agent_*.
  collectDefaultMetrics({ register: registry });
  options.host.registerMetrics(registry);

  await registerV2Routes(app, modelsV2Provider(options.models, { host: options.host, versions: options.versions }), { bodyLimit, serverName: "evoflow-agent" });
  app.get("/api/agent", async () => ({ ...options.host.status(), ...options.status?.() }));
  app.get("/metrics", async (_req, reply) => reply.header("content-type", registry.contentType).send(await registry.metrics()));
  return app;
}
