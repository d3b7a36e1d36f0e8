/**
 * Pipelines over HTTP: node types, validation, deploy/stop, sync entry points,
 * taps (read back and live over WebSocket), dead letters, traces and /metrics.
 */
import websocket from "@fastify/websocket";
import type { FastifyInstance, FastifyReply } from "fastify";
import { traceIdFromTraceparent } from "../envelope";
import { NodeError } from "../../sdk/errors";
import { OverloadedError } from "../overload";
import { PipelineInvalidError, PipelineStartError, type Runtime } from "../runtime";
import { pipelineJsonSchema, type Pipeline } from "../schema";
import type { Refusal } from "../transport/transport";
import { jsonReplacer, stringify } from "../../sdk/json";
import type { Trace } from "../../sdk/api-types";
import { EXPLANATIONS_STREAM } from "../../sdk/pipeline";

function notFound(reply: FastifyReply, what: string) {
  return reply.status(404).send({ error: `${what} not found` });
}

/** `?limit=`: undefined when absent, NaN when it is not a non-negative integer. */
function limitOf(query: { limit?: string }): number | undefined {
  if (query.limit === undefined) return undefined;
  const limit = Number(query.limit);
  return Number.isInteger(limit) && limit >= 0 ? limit : NaN;
}

/**
 * Each node a process refused gets `refused`: that process and why (the problems on that node,
 * else all of them), so the editor's node panel shows it among the node's figures. A node run
 * elsewhere has no entry of its own here yet: it gets one with zero counts.
 */
function withRefusals(nodes: Record<string, Record<string, unknown>>, pipeline: Pipeline, refused: Refusal[] | undefined): Record<string, Record<string, unknown>> {
  if (!refused?.length) return nodes;
  const out = { ...nodes };
  for (const refusal of refused)
    for (const id of refusal.nodes) {
      const index = pipeline.nodes.findIndex((n) => n.id === id);
      const own = refusal.problems.filter((p) => p.path === `$.nodes[${index}]` || p.path.startsWith(`$.nodes[${index}].`));
      const why = `${refusal.process}: ${(own.length ? own : refusal.problems).map((p) => `${p.path}: ${p.message}`).join("; ")}`;
      const entry = out[id] ?? { type: pipeline.nodes[index]?.type, in: 0, out: 0, errors: 0 };
      out[id] = { ...entry, refused: entry.refused ? `${entry.refused}\n${why}` : why };
    }
  return out;
}

/** An edge of the pipeline, or its stream of on-demand explanations: what a tap may read. */
const tapped = (p: { compiled: { edges: readonly { id: string }[] } }, edge: string) => edge === EXPLANATIONS_STREAM || p.compiled.edges.some((e) => e.id === edge);

/** A trace's messages and trees, from the pipeline holding it; undefined when none does. */
export async function findTrace(runtime: Runtime, traceId: string): Promise<Trace | undefined> {
  // A distributed transport holds the messages of every process (on nats: the pipeline's stream).
  const distributed = await runtime.transport.trace?.(traceId);
  if (distributed) return { traceId, ...distributed };
  for (const p of runtime.list()) {
    const messages = p.traces.messages(traceId);
    if (messages.length > 0) return { traceId, pipeline: p.name, messages, outputs: p.traces.tree(traceId) };
  }
  return undefined;
}

export async function pipelineRoutes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  app.get("/api/nodes", async () => runtime.describeNodeTypes());
  app.get("/api/schema", async () => pipelineJsonSchema());

  app.post("/api/validate", async (req) => {
    const result = runtime.validate(req.body);
    return { ok: result.ok, problems: result.problems };
  });

  app.get("/api/pipelines", async () =>
    runtime.list().map((p) => ({ name: p.name, nodes: p.compiled.nodes.size, edges: p.compiled.edges.length, entrypoints: [...p.entrypoints.keys()] })),
  );

  app.post("/api/pipelines", async (req, reply) => {
    try {
      const running = await runtime.deploy(req.body);
      return reply.status(201).send({ name: running.name, status: running.status() });
    } catch (err) {
      if (err instanceof PipelineStartError) return reply.status(422).send({ error: "pipeline could not start", problems: err.problems });
      if (err instanceof PipelineInvalidError) return reply.status(400).send({ error: "pipeline is not valid", problems: err.problems });
      throw err;
    }
  });

  app.get<{ Params: { name: string } }>("/api/pipelines/:name", async (req, reply) => {
    const p = runtime.get(req.params.name);
    return p ? { pipeline: p.compiled.pipeline, status: p.status() } : notFound(reply, `pipeline ${req.params.name}`);
  });

  app.get<{ Params: { name: string } }>("/api/pipelines/:name/status", async (req, reply) => {
    const p = runtime.get(req.params.name);
    if (!p) return notFound(reply, `pipeline ${req.params.name}`);
    // A distributed transport adds where each node runs (processes, replicas), the lag of each async edge and what processes refused.
    const own = p.status();
    const distributed = await runtime.transport.status?.(p.name);
    return { name: p.name, transport: runtime.transport.kind, ...own, ...distributed, nodes: withRefusals(own.nodes, p.compiled.pipeline, distributed?.refused) };
  });

  app.delete<{ Params: { name: string } }>("/api/pipelines/:name", async (req, reply) =>
    (await runtime.undeploy(req.params.name)) ? { stopped: req.params.name } : notFound(reply, `pipeline ${req.params.name}`),
  );

  app.get<{ Params: { name: string; edge: string }; Querystring: { limit?: string } }>(
    "/api/pipelines/:name/edges/:edge/messages",
    async (req, reply) => {
      const p = runtime.get(req.params.name);
      if (!p) return notFound(reply, `pipeline ${req.params.name}`);
      if (!tapped(p, req.params.edge)) return notFound(reply, `edge ${req.params.edge}`);
      const limit = limitOf(req.query);
      if (Number.isNaN(limit)) return reply.status(400).send({ error: "limit must be a non-negative integer" });
      return { edge: req.params.edge, ...p.taps.read(req.params.edge, limit) };
    },
  );

  /*
   * The live tap, sampled where the messages are. Serialising every message of a
   * fast edge (2,000 msgs/s of 784-float records is ~30 MB/s of JSON) would cost
   * the runtime more than the pipeline itself, and a reader takes in a few a second
   * anyway. So this socket sends about `perSecond` messages a second (20 unless
   * asked, at most 1,000), evenly spread, as `{edge, message}`, and every 250 ms
   * `{edge, seen}`: the count of all messages since it opened, for the true rate.
   */
  // The WebSocket plugin in a scope of its own: its per-request hooks then run for this route
  // only, not on every inference request.
  await app.register(async (live) => {
    await live.register(websocket);
    live.get<{ Params: { name: string; edge: string }; Querystring: { perSecond?: string } }>(
      "/api/pipelines/:name/edges/:edge/live",
      { websocket: true },
      (socket, req) => {
        const p = runtime.get(req.params.name);
        if (!p || !tapped(p, req.params.edge)) {
          socket.send(stringify({ error: `pipeline ${req.params.name} or edge ${req.params.edge} not found` }));
          socket.close(4404);
          return;
        }
        const perSecond = Math.min(1000, Math.max(1, Number(req.query.perSecond) || 20));
        const perTick = Math.max(1, Math.round(perSecond / 4));
        let seen = 0;
        let seenAtTick = 0;
        let stride = 1;
        let sentThisTick = 0;
        const unsubscribe = p.taps.subscribe(req.params.edge, (edge, message) => {
          seen++;
          // The stride spreads the sample over the tick; the budget holds before the stride has adapted,
          // and a slow client gets fewer messages rather than slowing the pipeline.
          if (seen % stride !== 0 || sentThisTick >= perTick || socket.bufferedAmount > 1 << 20) return;
          sentThisTick++;
          socket.send(stringify({ edge, message }));
        });
        const ticker = setInterval(() => {
          stride = Math.max(1, Math.ceil((seen - seenAtTick) / perTick));
          seenAtTick = seen;
          sentThisTick = 0;
          socket.send(JSON.stringify({ edge: req.params.edge, seen }));
        }, 250);
        socket.on("close", () => {
          clearInterval(ticker);
          unsubscribe();
        });
      },
    );
  });

  app.get<{ Params: { name: string }; Querystring: { limit?: string } }>("/api/pipelines/:name/dead-letters", async (req, reply) => {
    const p = runtime.get(req.params.name);
    if (!p) return notFound(reply, `pipeline ${req.params.name}`);
    const limit = limitOf(req.query);
    if (Number.isNaN(limit)) return reply.status(400).send({ error: "limit must be a non-negative integer" });
    // A distributed transport keeps every process's dead letters (on nats: the pipeline's dlq subject).
    const distributed = await runtime.transport.deadLetters?.(p.name, limit);
    if (distributed) return distributed;
    return { total: p.deadLetterCount(), letters: p.deadLetters.toArray(limit) };
  });

  // Drift alarms kept with their upstream windows (runtime/alarm-windows.ts); `GET /api/alarms/:id/rca` analyses one (nodes/drift/rca-api.ts).
  app.get<{ Querystring: { pipeline?: string } }>("/api/alarms", async (req, reply) => {
    const { pipeline } = req.query;
    if (pipeline !== undefined && !runtime.get(pipeline)) return notFound(reply, `pipeline ${pipeline}`);
    const pipelines = pipeline !== undefined ? [runtime.get(pipeline)!] : runtime.list();
    return { alarms: pipelines.flatMap((p) => p.alarms.list()).sort((a, b) => a.ts - b.ts) };
  });

  app.get<{ Params: { traceId: string } }>("/api/traces/:traceId", async (req, reply) => (await findTrace(runtime, req.params.traceId)) ?? notFound(reply, `trace ${req.params.traceId}`));

  // Sync entry points (io.http): the body is the payload, the reply the pipeline's output.
  app.post<{ Params: { name: string } }>("/pipelines/:name", async (req, reply) => {
    const entry = runtime.entrypoint(req.params.name);
    if (!entry) return notFound(reply, `pipeline entry point ${req.params.name}`);
    if (req.body === undefined) return reply.status(400).send({ error: "request body must be JSON" });
    const traceId = traceIdFromTraceparent(req.headers.traceparent as string | undefined);
    try {
      const [output] = await entry.invoke(req.body, { traceId });
      if (!output) return reply.status(204).header("x-trace-id", traceId ?? "").send();
      // Not the lenient reply serializer (json.ts): a reply JSON cannot hold is the pipeline's failure, not a 200 with a note.
      let body: string | undefined;
      try {
        body = JSON.stringify(output.payload, jsonReplacer);
      } catch (err) {
        return reply.status(500).send({ error: `the reply of pipeline ${req.params.name} cannot be sent as JSON: ${(err as Error).message}` });
      }
      return reply.header("x-trace-id", output.traceId).header("content-type", "application/json; charset=utf-8").send(body);
    } catch (err) {
      if (err instanceof NodeError)
        return reply.status(422).send({ error: err.message, node: err.node, port: err.port });
      // Load shedding (runtime/overload.ts): refused before anything of it ran.
      if (err instanceof OverloadedError)
        return reply.status(429).header("retry-after", String(err.retryAfterSeconds)).send({ error: err.message, reason: err.reason });
      throw err;
    }
  });

  app.get("/metrics", async (_req, reply) => reply.header("content-type", runtime.metrics.contentType()).send(await runtime.metrics.text()));
}
