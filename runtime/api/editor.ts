/**
 * Serves the web editor (editor/dist, built by `npm run build:editor`) at `/`,
 * and the one route only the editor needs: the ports a node type has for a given
 * config (join's inputs, switch's outputs depend on it), computed by the node's
 * own declaration so the canvas shows exactly the handles the validator expects;
 * and a sampled live tap for the editor's tap panel (see below).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { inputsOf, outputsOf } from "../node-contract";
import { describePortType, portTypeToJson, type Ports } from "../ports";
import type { Runtime } from "../runtime";
import { stringify } from "./json";

export const EDITOR_DIST = fileURLToPath(new URL("../../editor/dist", import.meta.url));

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evoflow editor not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>The Evoflow editor is not built</h1>
<p>This runtime serves the editor from <code>editor/dist</code>, which does not exist yet. Build it once with</p>
<pre>npm run build:editor</pre>
<p>then reload this page. The HTTP API under <code>/api</code> works without it.</p>
</body></html>
`;

function portsJson(ports: Ports) {
  return Object.fromEntries(Object.entries(ports).map(([k, t]) => [k, { ...portTypeToJson(t), label: describePortType(t) }]));
}

export async function editorRoutes(app: FastifyInstance, runtime: Runtime, dist = EDITOR_DIST): Promise<void> {
  app.post<{ Params: { type: string }; Body: { config?: unknown } | undefined }>("/api/nodes/:type/ports", async (req, reply) => {
    const def = runtime.nodeTypes.get(req.params.type);
    if (!def) return reply.status(404).send({ error: `node type ${req.params.type} not found` });
    const parsed = def.config.safeParse(req.body?.config ?? {});
    if (!parsed.success)
      return reply.status(400).send({ error: "config is not valid", problems: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) });
    return { inputs: portsJson(inputsOf(def, parsed.data)), outputs: portsJson(outputsOf(def, parsed.data)) };
  });

  /*
   * The live tap, sampled where the messages are. Serialising every message of a
   * fast edge (2,000 msgs/s of 784-float records is ~30 MB/s of JSON) would cost
   * the runtime more than the pipeline itself, and a person reads a few a second
   * anyway. So this socket sends about `perSecond` messages a second, evenly
   * spread, as `{edge, message}`, and every 250 ms `{edge, seen}`: the count of
   * all messages since it opened, from which the panel shows the true rate.
   */
  app.get<{ Params: { name: string; edge: string }; Querystring: { perSecond?: string } }>(
    "/api/pipelines/:name/edges/:edge/sampled",
    { websocket: true },
    (socket, req) => {
      const p = runtime.get(req.params.name);
      if (!p || !p.compiled.edges.some((e) => e.id === req.params.edge)) {
        socket.send(stringify({ error: `pipeline ${req.params.name} or edge ${req.params.edge} not found` }));
        socket.close(4404);
        return;
      }
      const perSecond = Math.min(200, Math.max(1, Number(req.query.perSecond) || 20));
      const perTick = Math.max(1, Math.round(perSecond / 4));
      let seen = 0;
      let seenAtTick = 0;
      let stride = 1;
      let sentThisTick = 0;
      const unsubscribe = p.taps.subscribe(req.params.edge, (edge, message) => {
        seen++;
        // The stride spreads the sample over the tick; the budget holds even before the stride has adapted.
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

  if (!existsSync(`${dist}/index.html`)) {
    app.get("/", async (_req, reply) => reply.status(503).type("text/html; charset=utf-8").send(NOT_BUILT));
    return;
  }
  await app.register(fastifyStatic, { root: dist, prefix: "/", wildcard: true, index: ["index.html"] });
}
