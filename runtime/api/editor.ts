/**
 * Serves the web editor (editor/dist, built by `npm run build:editor`) at `/`,
 * and the one route only the editor needs: the ports a node type has for a given
 * config (join's inputs, switch's outputs depend on it), computed by the node's
 * own declaration so the canvas shows exactly the handles the validator expects
 * (the live tap it uses is runtime/api/pipelines.ts's `/live`), and the canonical text
 * of a pipeline for the editor's export, so it is exactly what `evoflow fmt` writes, and the
 * editor's import of a pasted Node-RED flows.json, by the same converter as `evoflow import`.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { inputsOf, outputsOf } from "../../sdk/contract";
import { describePortType, portTypeToJson, type Ports } from "../../sdk/ports";
import { fillRequires, formatPipeline } from "../canonical";
import { FlowsError, formatReport, importNodeRedFlows } from "../node-red-import/convert";
import { mappingContext } from "../node-red-import/context";
import { PROJECT_ROOT } from "../paths";
import type { Runtime } from "../runtime";

export const EDITOR_DIST = path.join(PROJECT_ROOT, "editor", "dist");

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

  app.post("/api/format", async (req, reply) => {
    if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) return reply.status(400).send({ error: "the body must be a pipeline (a JSON object)" });
    // As `evoflow fmt` writes it, `requires` filled from the packages this runtime loaded.
    return { text: formatPipeline(fillRequires(req.body, runtime.nodeTypes)) };
  });

  // Changes nothing (a viewer may, as with /api/validate): each tab's pipeline, canonical, with its validation.
  app.post("/api/import/node-red", async (req, reply) => {
    let result;
    try {
      result = importNodeRedFlows(req.body, mappingContext(runtime.nodeTypes));
    } catch (err) {
      if (!(err instanceof FlowsError)) throw err;
      return reply.status(400).send({ error: "not a Node-RED flows.json", problems: [{ path: err.path, message: err.message.slice(err.path.length + 2) }] });
    }
    const pipelines = result.pipelines.map(({ name, tab, pipeline }) => {
      const text = formatPipeline(fillRequires(pipeline, runtime.nodeTypes));
      return { name, tab, text, pipeline: JSON.parse(text) as unknown, problems: runtime.validate(pipeline).problems };
    });
    return { pipelines, report: result.report, text: formatReport(result) };
  });

  if (!existsSync(`${dist}/index.html`)) {
    app.get("/", async (_req, reply) => reply.status(503).type("text/html; charset=utf-8").send(NOT_BUILT));
    return;
  }
  await app.register(fastifyStatic, { root: dist, prefix: "/", wildcard: true, index: ["index.html"] });
}
