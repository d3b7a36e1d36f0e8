/**
 * Label queue routes (active learning), behind the runtime's access checks like every route:
 *   GET  /api/label-queues                          the queues and their counts
 *   GET  /api/label-queues/:queue                   classes, lease time, counts
 *   GET  /api/label-queues/:queue/items?state=&limit=  items (newest last), with who labelled what and when
 *   POST /api/label-queues/:queue/next              {labeler} → {item} leased to them, or 204 when none waits
 *   POST /api/label-queues/:queue/items/:id/label   {labeler, label} → {item}; 409 when labelled or leased to another
 *   POST /api/label-queues/:queue/items/:id/skip    {labeler} → {item}, back in the queue
 * The POSTs need the role that may post labels to a pipeline (`POST /pipelines/:name`): viewer
 * (runtime/api/auth.ts lists them). Tokens carry roles, not names, so `labeler` is the name the
 * client gives (the labeling page asks once); the role check is what guards the queue.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import type { LabelQueueInfo, RouteHost } from "../../sdk";
import { labelQueues } from "../services";
import { QueueError, type ItemState, type LabelQueue } from "./label-queue";

const STATES = new Set<string>(["queued", "leased", "labelled"]);

type Body = { labeler?: unknown; label?: unknown } | undefined;

export default async function labelQueueRoutes(app: FastifyInstance, host: RouteHost): Promise<void> {
  const queues = host.service(labelQueues);
  if (!queues) return; // a runtime without the service (a test's own): no queue to serve

  /** Runs `fn` on the named queue; a refused operation is its 4xx. */
  const withQueue = async (name: string, reply: FastifyReply, fn: (queue: LabelQueue) => Promise<unknown>) => {
    try {
      const queue = await queues.find(name);
      if (!queue) return reply.status(404).send({ error: `no label queue "${name}" (a sampler.uncertainty node creates it when deployed)` });
      return await fn(queue);
    } catch (err) {
      if (err instanceof QueueError) return reply.status(err.status).send({ error: err.message });
      throw err;
    }
  };
  const info = (q: LabelQueue): LabelQueueInfo => ({ name: q.name, ...(q.meta.classes ? { classes: q.meta.classes } : {}), leaseMs: q.meta.leaseMs, counts: q.counts() });
  const bodyOf = (req: { body: unknown }) => (typeof req.body === "object" && req.body !== null ? req.body : {}) as NonNullable<Body>;

  app.get("/api/label-queues", async () => {
    const names = await queues.names();
    return { queues: await Promise.all(names.map(async (n) => info(await queues.get(n)))) };
  });

  app.get<{ Params: { queue: string } }>("/api/label-queues/:queue", (req, reply) => withQueue(req.params.queue, reply, async (q) => info(q)));

  app.get<{ Params: { queue: string }; Querystring: { state?: string; limit?: string } }>("/api/label-queues/:queue/items", (req, reply) =>
    withQueue(req.params.queue, reply, async (q) => {
      const { state, limit } = req.query;
      if (state !== undefined && !STATES.has(state)) return reply.status(400).send({ error: `state must be one of ${[...STATES].join(", ")}` });
      const n = limit === undefined ? 100 : Number(limit);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) return reply.status(400).send({ error: "limit must be an integer 1–10000" });
      return { items: q.list({ state: state as ItemState | undefined, limit: n }).map((item) => ({ ...item, state: q.stateOf(item) })) };
    }),
  );

  app.post<{ Params: { queue: string } }>("/api/label-queues/:queue/next", (req, reply) =>
    withQueue(req.params.queue, reply, async (q) => {
      const item = await q.next(bodyOf(req).labeler as string);
      return item ? { item: { ...item, state: q.stateOf(item) } } : reply.status(204).send();
    }),
  );

  app.post<{ Params: { queue: string; id: string } }>("/api/label-queues/:queue/items/:id/label", (req, reply) =>
    withQueue(req.params.queue, reply, async (q) => {
      const body = bodyOf(req);
      if (body.label === undefined) return reply.status(400).send({ error: "the body needs label (a class index or a string)" });
      const item = await q.submit(req.params.id, body.labeler as string, body.label);
      return { item: { ...item, state: q.stateOf(item) } };
    }),
  );

  app.post<{ Params: { queue: string; id: string } }>("/api/label-queues/:queue/items/:id/skip", (req, reply) =>
    withQueue(req.params.queue, reply, async (q) => {
      const item = await q.skip(req.params.id, bodyOf(req).labeler as string);
      return { item: { ...item, state: q.stateOf(item) } };
    }),
  );
}
