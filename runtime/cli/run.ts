/**
 * Commands that run or talk to a runtime: run, serve (runtime/cli/serve.ts), tap, trace.
 * tap and trace send the token from --token, EVOFLOW_TOKEN or <data>/token (runtime/cli/token.ts).
 */
import type { Command } from "commander";
import WebSocket from "ws";
import type { TraceNode } from "../provenance";
import { serverOptions, startServer, type ServeOptions } from "./serve";
import { authHeaders } from "./token";

const DEFAULT_URL = process.env.EVOFLOW_URL ?? "http://127.0.0.1:8080";

type ClientOptions = { url: string; token?: string; data: string };

async function getJson(url: string, opts: ClientOptions): Promise<unknown> {
  const res = await fetch(url, { headers: authHeaders(opts) });
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
  serverOptions(
    program.command("run").description("run pipelines with the HTTP API and the editor; prints the editor URL with its token").argument("<files...>"),
  ).action((files: string[], opts: ServeOptions) => startServer(files, opts));

  serverOptions(
    program.command("serve").description("run the runtime and the editor with no pipelines: deploy them through the editor or POST /api/pipelines"),
  ).action((opts: ServeOptions) => startServer([], opts));

  program
    .command("tap")
    .description("print the messages on an edge: the recent ones, then live ones with --follow")
    .argument("<pipeline>")
    .argument("<edge>")
    .option("--url <url>", "runtime API", DEFAULT_URL)
    .option("--token <token>", "API token (default: EVOFLOW_TOKEN, else <data>/token)")
    .option("--data <dir>", "data folder holding the server's token", ".evoflow")
    .option("--limit <n>", "recent messages to print", "20")
    .option("-f, --follow", "keep printing live messages")
    .option("--nats <url>", "read the edge from the pipeline's JetStream stream instead of the API (edge `dlq`: the dead letters; `_explanations`: explanations made on demand)")
    .option("--since <when>", "with --nats: from a past point (10m, 2h, or a date)")
    .option("--seq <n>", "with --nats: from this stream sequence")
    .option("--last <n>", "with --nats: the last n messages (20 unless --since/--seq/--follow)")
    .action(async (pipeline: string, edge: string, opts: ClientOptions & { limit: string; follow?: boolean; nats?: string; since?: string; seq?: string; last?: string }) => {
      if (opts.nats) return (await import("./nats")).tapFromNats(pipeline, edge, { ...opts, nats: opts.nats });
      const base = `${opts.url}/api/pipelines/${encodeURIComponent(pipeline)}/edges/${encodeURIComponent(edge)}`;
      let recent: { messages: unknown[] };
      try {
        recent = (await getJson(`${base}/messages?limit=${Number(opts.limit)}`, opts)) as { messages: unknown[] };
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      for (const m of recent.messages) process.stdout.write(`${JSON.stringify(m)}\n`);
      if (!opts.follow) return;
      // A header, not ?token=, so the token stays out of any proxy's access log.
      const ws = new WebSocket(`${base.replace(/^http/, "ws")}/live?perSecond=1000`, { headers: authHeaders(opts) });
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
    .option("--token <token>", "API token (default: EVOFLOW_TOKEN, else <data>/token)")
    .option("--data <dir>", "data folder holding the server's token", ".evoflow")
    .option("--json", "print the trace as JSON")
    .option("--nats <url>", "read the trace from the pipelines' JetStream streams (every process) instead of the API")
    .option("--pipeline <name>", "with --nats: look in this pipeline only")
    .action(async (traceId: string, opts: ClientOptions & { json?: boolean; nats?: string; pipeline?: string }) => {
      try {
        if (opts.nats) return await (await import("./nats")).traceFromNats(traceId, { ...opts, nats: opts.nats });
        const trace = (await getJson(`${opts.url}/api/traces/${encodeURIComponent(traceId)}`, opts)) as { pipeline: string; outputs: TraceNode[] };
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
