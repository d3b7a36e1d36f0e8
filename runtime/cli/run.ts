/**
 * Commands that talk to a running runtime: run, tap, trace.
 */
import type { Command } from "commander";
import WebSocket from "ws";
import { createApi } from "../api/server";
import { applyServingV8Flags } from "./heap";
import { PipelineInvalidError, Runtime } from "../runtime";
import { createServices } from "../services";
import { readPipelineFile } from "./pipeline";
import type { TraceNode } from "../provenance";

const DEFAULT_URL = process.env.EVOFLOW_URL ?? "http://127.0.0.1:8080";

function authHeaders(token?: string): Record<string, string> {
  const t = token ?? process.env.EVOFLOW_TOKEN;
  return t ? { authorization: `Bearer ${t}` } : {};
}

async function getJson(url: string, token?: string): Promise<unknown> {
  const res = await fetch(url, { headers: authHeaders(token) });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error((body as { error?: string }).error ?? `HTTP ${res.status}`);
  return body;
}

function printTree(nodes: TraceNode[], indent = ""): void {
  for (const n of nodes) {
    const model = n.model ? `  model ${n.model.name}@${n.model.version}` : "";
    const payload = JSON.stringify(n.payload) ?? "";
    process.stdout.write(`${indent}${n.node}.${n.port}  ${n.id}  ${new Date(n.ts).toISOString()}${model}  ${payload.length > 80 ? `${payload.slice(0, 77)}...` : payload}\n`);
    printTree(n.parents, `${indent}  `);
  }
}

export function register(program: Command): void {
  program
    .command("run")
    .description("run pipelines with the HTTP API (and the editor, when built)")
    .argument("<files...>")
    .option("--port <n>", "HTTP port", "8080")
    .option("--host <host>", "address to listen on (localhost unless a token is set)")
    .option("--token <token>", "require this bearer token on the API (or EVOFLOW_TOKEN)")
    .option("--data <dir>", "data folder", ".evoflow")
    .option("--nats <url>", "run distributed on NATS JetStream: this process runs the nodes without a placement (see `evoflow worker`)")
    .option("--replicas <n>", "with --nats: replicas of the pipeline's stream (3 on a three-server cluster)", "1")
    .action(async (files: string[], opts: { port: string; host?: string; token?: string; data: string; nats?: string; replicas: string }) => {
      applyServingV8Flags();
      const token = opts.token ?? process.env.EVOFLOW_TOKEN;
      const host = opts.host ?? (token ? "0.0.0.0" : "127.0.0.1");
      if (!token && !["127.0.0.1", "localhost", "::1"].includes(host)) {
        process.stderr.write("refusing to listen beyond localhost without --token\n");
        process.exit(2);
      }
      const runtime = new Runtime({
        // The NATS client loads only when it is used.
        ...(opts.nats ? await (await import("./nats")).natsCoordinatorOptions(opts.nats, { replicas: Number(opts.replicas) }) : {}),
        dataDir: opts.data,
        services: await createServices({ dataDir: opts.data }),
        log: (level, message, fields) => {
          if (level !== "debug") process.stderr.write(`${level}: ${message} ${fields ? JSON.stringify(fields) : ""}\n`);
        },
      });
      for (const file of files) {
        const read = readPipelineFile(file);
        try {
          if (read.json === undefined) throw new PipelineInvalidError(read.problems);
          await runtime.deploy(read.json);
        } catch (err) {
          if (!(err instanceof PipelineInvalidError)) throw err;
          for (const p of err.problems) process.stderr.write(`${file}: ${p.path}: ${p.message}\n`);
          process.exit(1);
        }
      }
      const app = await createApi({ runtime, token });
      const address = await app.listen({ port: Number(opts.port), host });
      process.stdout.write(`evoflow listening on ${address} (pipelines: ${runtime.list().map((p) => p.name).join(", ")})\n`);
      for (const p of runtime.list()) process.stdout.write(`  editor: ${address}/#/pipelines/${encodeURIComponent(p.name)}\n`);
      const shutdown = async () => {
        await app.close();
        await runtime.close();
        process.exit(0);
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    });

  program
    .command("tap")
    .description("print the messages on an edge: the recent ones, then live ones with --follow")
    .argument("<pipeline>")
    .argument("<edge>")
    .option("--url <url>", "runtime API", DEFAULT_URL)
    .option("--token <token>")
    .option("--limit <n>", "recent messages to print", "20")
    .option("-f, --follow", "keep printing live messages")
    .option("--nats <url>", "read the edge from the pipeline's JetStream stream instead of the API (edge `dlq`: the dead letters)")
    .option("--since <when>", "with --nats: from a past point (10m, 2h, or a date)")
    .option("--seq <n>", "with --nats: from this stream sequence")
    .option("--last <n>", "with --nats: the last n messages (20 unless --since/--seq/--follow)")
    .action(async (pipeline: string, edge: string, opts: { url: string; token?: string; limit: string; follow?: boolean; nats?: string; since?: string; seq?: string; last?: string }) => {
      if (opts.nats) return (await import("./nats")).tapFromNats(pipeline, edge, { ...opts, nats: opts.nats });
      const base = `${opts.url}/api/pipelines/${encodeURIComponent(pipeline)}/edges/${encodeURIComponent(edge)}`;
      let recent: { messages: unknown[] };
      try {
        recent = (await getJson(`${base}/messages?limit=${Number(opts.limit)}`, opts.token)) as { messages: unknown[] };
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      for (const m of recent.messages) process.stdout.write(`${JSON.stringify(m)}\n`);
      if (!opts.follow) return;
      const token = opts.token ?? process.env.EVOFLOW_TOKEN;
      const ws = new WebSocket(`${base.replace(/^http/, "ws")}/live?perSecond=1000${token ? `&token=${encodeURIComponent(token)}` : ""}`);
      ws.on("message", (data) => {
        const parsed = JSON.parse(String(data)) as { message?: unknown; error?: string };
        if (parsed.message === undefined && !parsed.error) return; // a rate tick ({seen})
        if (parsed.error) {
          process.stderr.write(`${parsed.error}\n`);
          process.exitCode = 1;
          ws.close();
        } else process.stdout.write(`${JSON.stringify(parsed.message)}\n`);
      });
      await new Promise((resolve) => ws.on("close", resolve));
    });

  program
    .command("trace")
    .description("print the tree of messages, nodes and model versions behind the outputs of a trace")
    .argument("<traceId>")
    .option("--url <url>", "runtime API", DEFAULT_URL)
    .option("--token <token>")
    .option("--json", "print the trace as JSON")
    .option("--nats <url>", "read the trace from the pipelines' JetStream streams (every process) instead of the API")
    .option("--pipeline <name>", "with --nats: look in this pipeline only")
    .action(async (traceId: string, opts: { url: string; token?: string; json?: boolean; nats?: string; pipeline?: string }) => {
      try {
        if (opts.nats) return await (await import("./nats")).traceFromNats(traceId, { ...opts, nats: opts.nats });
        const trace = (await getJson(`${opts.url}/api/traces/${encodeURIComponent(traceId)}`, opts.token)) as { pipeline: string; outputs: TraceNode[] };
        if (opts.json) process.stdout.write(`${JSON.stringify(trace, null, 2)}\n`);
        else {
          process.stdout.write(`trace ${traceId} in pipeline ${trace.pipeline}\n`);
          printTree(trace.outputs, "  ");
        }
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
