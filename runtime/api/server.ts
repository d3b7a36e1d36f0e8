/**
 * The HTTP + WebSocket API over a Runtime. Each area is a fastify plugin in its
 * own file; this one wires them, access control and error bodies.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { Runtime } from "../runtime";
import { editorRoutes } from "./editor";
import { pipelineRoutes } from "./pipelines";
import { stringify } from "./json";
import { v2Routes } from "./v2";
import { clRoutes } from "./cl";

export interface ApiOptions {
  runtime: Runtime;
  /** When set, every /api and /pipelines request needs `Authorization: Bearer <token>` (or `?token=` for WebSockets). */
  token?: string;
  /** Largest request body, bytes. */
  bodyLimit?: number;
  logger?: boolean;
}

/** Route plugins, one per area: each gets the runtime. */
export type ApiPlugin = (app: FastifyInstance, runtime: Runtime) => void | Promise<void>;
const plugins: ApiPlugin[] = [pipelineRoutes, editorRoutes, v2Routes, clRoutes];

export async function createApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024 });
  // Typed arrays become arrays in every JSON reply.
  app.setReplySerializer((payload) => stringify(payload));
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    void reply.status(status).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => void reply.status(404).send({ error: `no route ${req.method} ${req.url}` }));
  if (options.token) {
    const expected = `Bearer ${options.token}`;
    app.addHook("onRequest", async (req, reply) => {
      const open = req.url === "/" || req.url.startsWith("/assets/") || req.url.startsWith("/v2/health");
      const query = new URL(req.url, "http://x").searchParams.get("token");
      if (!open && req.headers.authorization !== expected && query !== options.token)
        return reply.status(401).send({ error: "missing or wrong token (send Authorization: Bearer <token>)" });
    });
  }
  for (const plugin of plugins) await plugin(app, options.runtime);
  return app;
}
