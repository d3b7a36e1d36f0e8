/**
 * The HTTP + WebSocket API over a Runtime. Each area is a fastify plugin in its
 * own file; this one wires them, access control and error bodies.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { Runtime } from "../runtime";
import { editorRoutes } from "./editor";
import { findTrace, pipelineRoutes } from "./pipelines";
import { binaryBytes } from "../binary-payload";
import { stringify } from "../../sdk/json";
import { v2Routes } from "./v2";
import { packageRoutes } from "./packages";
import { secretRoutes } from "./secrets";
import { addAccessChecks, type GuardOptions } from "./auth";
import { registerJsonBodyParser } from "./json-body";
import { registerPackageRoutes } from "../packages/extensions";
import type { RouteHost } from "../../sdk/extensions";

/**
 * Access (runtime/api/auth.ts): `auth` maps tokens to roles; without it no token is asked
 * for, but the Host, Origin and content-type checks always apply. `boundHost` is the
 * address given to `listen`, accepted as a Host name when it is one.
 */
export interface ApiOptions extends GuardOptions {
  runtime: Runtime;
  /** Largest request body, bytes. */
  bodyLimit?: number;
  logger?: boolean;
  /** More route plugins, from the layer above (the CLI gives the pipeline test routes, testing/pipeline/routes.ts). */
  routes?: ApiPlugin[];
}

/** Route plugins, one per area: each gets the runtime. Then the routes node packages give (their package.json "routes"). */
export type ApiPlugin = (app: FastifyInstance, runtime: Runtime) => void | Promise<void>;
const plugins: ApiPlugin[] = [pipelineRoutes, editorRoutes, v2Routes, packageRoutes, secretRoutes, contributedRoutes];

async function contributedRoutes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  await registerPackageRoutes(app, runtime.nodeTypes.packages, routeHost(runtime));
}

/** What a package's routes may see of the runtime (sdk/extensions.ts RouteHost). */
export function routeHost(runtime: Runtime): RouteHost {
  return {
    dataDir: runtime.dataDir,
    service: (key) => runtime.services[key.name] as never,
    hasPipeline: (name) => runtime.get(name) !== undefined,
    pipeline: (name) => {
      const p = runtime.get(name);
      return (
        p && {
          edges: p.compiled.edges,
          edgeMessages: (edge, limit) => p.taps.read(edge, limit).messages,
          publish: async (stream, message) => {
            const bytes = binaryBytes(message.payload);
            p.traces.record(message, bytes);
            p.taps.record(stream, p.taps.ring(stream), message, bytes);
            await runtime.transport.publishToStream?.(p.name, stream, message);
          },
        }
      );
    },
    trace: (traceId) => findTrace(runtime, traceId),
    alarm: (id) => runtime.alarm(id),
  };
}

export async function createApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = baseApp(options);
  addAccessChecks(app, options);
  for (const plugin of [...plugins, ...(options.routes ?? [])]) await plugin(app, options.runtime);
  return app;
}

/**
 * The same API with no access checks at all (no token, Host, Origin or content-type
 * check): only for bench/auth-overhead.ts, which measures what the checks cost, and adds
 * them back timed through `before` (run before the routes are added). Never serve it.
 */
export async function createApiWithoutAccessChecks(options: Omit<ApiOptions, keyof GuardOptions>, before?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = baseApp(options);
  before?.(app);
  for (const plugin of [...plugins, ...(options.routes ?? [])]) await plugin(app, options.runtime);
  return app;
}

function baseApp(options: Pick<ApiOptions, "logger" | "bodyLimit">): FastifyInstance {
  // A WebSocket's URL may carry ?token=: the request log never shows it.
  const logger = options.logger ? { serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.replace(/([?&]token=)[^&]*/, "$1[redacted]") }) } } : false;
  const app = Fastify({ logger, bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024 });
  // Typed arrays become arrays in every JSON reply.
  app.setReplySerializer((payload) => stringify(payload));
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    void reply.status(status).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => void reply.status(404).send({ error: `no route ${req.method} ${req.url}` }));
  registerJsonBodyParser(app); // nesting-depth limit (64) before fastify's own JSON parser
  return app;
}
