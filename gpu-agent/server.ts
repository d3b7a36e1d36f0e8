/**
 * The standalone agent's HTTP server (`evoflow agent`): the same `/v2` routes as the
 * runtime (models and Triton's repository extension, so one agent can stand in for a
 * Triton server), `GET /api/agent` for the host's status and `/metrics`.
 *
 * A repository load carries a whole model, so a page that drives this port (DNS rebinding,
 * a cross-site form) could swap in its own: the runtime's access checks
 * (runtime/api/auth.ts) always apply — Host, Origin, JSON or binary-OIP content types — and
 * a token with its role when `access.auth` is set (infer and reads: viewer; load, unload: operator).
 */
import Fastify, { type FastifyInstance } from "fastify";
import { collectDefaultMetrics, Registry } from "prom-client";
import { addAccessChecks, type GuardOptions } from "../runtime/api/auth";
import { registerV2Routes } from "./v2-routes";
import type { ModelHost } from "./host";
import type { IdleProfiler } from "./idle-profiler";
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
  /** Its state on /api/agent (`profiler`) and /metrics; `{ state: "off" }` when absent. */
  profiler?: IdleProfiler;
  /** Tokens, extra Host names and the bound address; Host, Origin and content-type checks apply even when absent. */
  access?: GuardOptions;
}

export async function createAgentServer(options: AgentServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? 64 * 1024 * 1024;
  const app = Fastify({ bodyLimit });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    void reply.status(err.statusCode && err.statusCode >= 400 ? err.statusCode : 500).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => void reply.status(404).send({ error: `no route ${req.method} ${req.url}` }));
  // Before any route, so the v2 scope inherits the hook.
  addAccessChecks(app, options.access ?? {});

  const registry = new Registry();
  // Standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes, …) for existing dashboards; the agent's own are evoflow_agent_*.
  collectDefaultMetrics({ register: registry });
  options.host.registerMetrics(registry);
  options.profiler?.registerMetrics(registry);

  await registerV2Routes(app, modelsV2Provider(options.models, { host: options.host, versions: options.versions }), { bodyLimit, serverName: "evoflow-agent" });
  app.get("/api/agent", async () => ({ ...options.host.status(), profiler: options.profiler?.status() ?? { state: "off" }, ...options.status?.() }));
  app.get("/metrics", async (_req, reply) => reply.header("content-type", registry.contentType).send(await registry.metrics()));
  return app;
}
