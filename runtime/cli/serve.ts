/**
 * Starting the runtime's HTTP server for `evoflow run <files>` and `evoflow serve` (the
 * same with no files: pipelines arrive through the API or the editor), safe by default:
 *
 * - It listens on 127.0.0.1 unless `--host` says otherwise.
 * - It always asks for a token (runtime/cli/token.ts: given, found in `<data>/token`, or
 *   generated there) and prints the editor URL with `?token=` once, as Jupyter does; the
 *   editor swaps it for a cookie on the first load. That line is the only place it is shown.
 *   `--no-auth` is refused unless the server listens on loopback only.
 * - Host and Origin checks always apply (runtime/api/auth.ts); `--allow-host` and
 *   `--allow-origin` add names (a reverse proxy's public name, see SECURITY.md).
 * - Nodes get capabilities by `--grant` (a list, `all` or `none`), else the settings
 *   file's `grants`, else: all of them on loopback (a developer's machine: the examples
 *   and `npm start` work), `fs-write,network` beyond it (no `exec` unless told).
 */
import path from "node:path";
import type { Command } from "commander";
import { createApi } from "../api/server";
import { runtimeGrpcProvider } from "../api/v2";
import { loadV2GrpcServer } from "../../gpu-agent";
import { CAPABILITIES } from "../../sdk/contract";
import { DEFAULT_GRANTS, PipelineInvalidError, Runtime } from "../runtime";
import { createServices } from "../services";
import { GRANT_LIST_HELP, parseGrants } from "./grants";
import { applyServingV8Flags } from "./heap";
import { isLoopback } from "./loopback";
import { commandNodeTypes, NODES_DIR_HELP } from "./node-packages";
import { readPipelineFile } from "./pipeline";
import { loadServerSettings, SettingsError } from "./server-settings";
import { serverToken } from "./token";
import { pipelineTestRoutes } from "../../testing/pipeline/routes";

export interface ServeOptions {
  port: string;
  host: string;
  token?: string;
  auth: boolean;
  data: string;
  allowHost: string[];
  allowOrigin: string[];
  grant?: string;
  nats?: string;
  replicas: string;
  nodes: string[];
  grpcPort?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** The options `run` and `serve` share. */
export function serverOptions(command: Command): Command {
  return command
    .option("--port <n>", "HTTP port (0: any free one)", "8080")
    .option("--host <host>", "address to listen on; beyond loopback, the token is what guards it", "127.0.0.1")
    .option("--token <token>", "the operator token (default: EVOFLOW_TOKEN, else <data>/token, else a new one saved there)")
    .option("--no-auth", "ask for no token (refused unless --host is a loopback address)")
    .option("--data <dir>", "data folder (token, settings.json, registry, history)", ".evoflow")
    .option("--allow-host <name>", "also answer to this Host name, e.g. a proxy's public name (repeatable; * turns the check off)", collect, [])
    .option("--allow-origin <origin>", "also accept changes and WebSockets from this origin, e.g. https://evoflow.example.com (repeatable)", collect, [])
    .option("--grant <list>", `capabilities nodes may use: ${GRANT_LIST_HELP} (default: all on loopback, fs-write,network beyond)`)
    .option("--nats <url>", "run distributed on NATS JetStream: this process runs the nodes without a placement (see `evoflow worker`)")
    .option("--replicas <n>", "with --nats: replicas of the pipeline's stream (3 on a three-server cluster)", "1")
    .option("--nodes <dir>", NODES_DIR_HELP, collect, [])
    .option("--grpc-port <n>", "also serve the Open Inference Protocol over gRPC (KServe's GRPCInferenceService) on this port, same token");
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

export async function startServer(files: string[], opts: ServeOptions): Promise<void> {
  applyServingV8Flags();
  const loopback = isLoopback(opts.host);
  if (!opts.auth && !loopback)
    fail(`refusing --no-auth on ${opts.host}: anyone who can reach that address could deploy pipelines. Listen on 127.0.0.1, or keep the token (it is printed in the editor URL).`);
  let settings;
  try {
    settings = loadServerSettings(opts.data);
  } catch (err) {
    if (err instanceof SettingsError) fail(err.message);
    throw err;
  }
  const allowHosts = [...settings.allowHosts, ...opts.allowHost];
  if (allowHosts.includes("*")) process.stderr.write("warning: --allow-host * turns the Host check off: a DNS-rebinding page can reach this server (the token still guards it)\n");
  let grants = settings.grants ?? (loopback ? [...CAPABILITIES] : [...DEFAULT_GRANTS]);
  try {
    if (opts.grant !== undefined) grants = parseGrants(opts.grant);
  } catch (err) {
    fail((err as Error).message);
  }

  const operator = opts.auth ? serverToken({ token: opts.token, data: opts.data }) : undefined;
  if (operator?.warning) process.stderr.write(`warning: ${operator.warning}\n`);

  const nodeTypes = await commandNodeTypes({ dirs: opts.nodes, data: opts.data });
  const runtime = new Runtime({
    // The NATS client loads only when it is used.
    ...(opts.nats ? await (await import("./nats")).natsCoordinatorOptions(opts.nats, { replicas: Number(opts.replicas) }) : {}),
    nodeTypes,
    dataDir: opts.data,
    grants,
    services: await createServices({ dataDir: opts.data, packages: nodeTypes.packages, python: settings.python, allowExec: grants.includes("exec") }),
    log: (level, message, fields) => {
      if (level !== "debug") process.stderr.write(`${level}: ${message} ${fields ? JSON.stringify(fields) : ""}\n`);
    },
  });
  // Where each pipeline came from: its test cases are kept beside it (the editor's "save as test").
  const sourceFiles = new Map<string, string>();
  for (const file of files) {
    const read = readPipelineFile(file);
    try {
      if (read.json === undefined) throw new PipelineInvalidError(read.problems);
      sourceFiles.set((await runtime.deploy(read.json)).name, path.resolve(file));
    } catch (err) {
      if (!(err instanceof PipelineInvalidError)) throw err;
      for (const p of err.problems) process.stderr.write(`${file}: ${p.path}: ${p.message}\n`);
      process.exit(1);
    }
  }
  // The same tokens for HTTP and gRPC.
  const auth = operator
    ? { tokens: { ...settings.tokens, [operator.token]: "operator" as const }, tokenSha256: settings.tokenSha256, openMetrics: settings.openMetrics, openHealth: settings.openHealth }
    : undefined;
  const app = await createApi({
    runtime,
    auth,
    allowHosts,
    allowOrigins: [...settings.allowOrigins, ...opts.allowOrigin],
    boundHost: opts.host,
    routes: [pipelineTestRoutes(sourceFiles)],
  });
  const address = await app.listen({ port: Number(opts.port), host: opts.host });
  const names = runtime.list().map((p) => p.name);
  process.stdout.write(`evoflow listening on ${address} (pipelines: ${names.join(", ") || "none yet"})\n`);
  const grpc = opts.grpcPort === undefined ? undefined : await (await loadV2GrpcServer())(opts.host, Number(opts.grpcPort), {
    provider: runtimeGrpcProvider(runtime),
    auth,
  });
  if (grpc) process.stdout.write(`  grpc: ${opts.host}:${grpc.port} (inference.GRPCInferenceService)\n`);
  process.stdout.write(`  grants: ${grants.join(", ") || "none"}\n`);
  // A wildcard address is no place to browse to: the editor link uses loopback.
  const browse = new URL(address);
  if (browse.hostname === "0.0.0.0" || browse.hostname === "[::]") browse.hostname = "127.0.0.1";
  const query = operator ? `?token=${encodeURIComponent(operator.token)}` : "";
  if (operator)
    process.stdout.write(`  token: ${operator.source === "generated" ? `new, saved in ${operator.file} (the CLI reads it there)` : `from ${operator.source === "token file" ? operator.file : operator.source}`}\n`);
  else process.stdout.write("  no token asked for (--no-auth): any local user can change this runtime\n");
  const base = `${browse.origin}/${query}`;
  if (names.length === 0) process.stdout.write(`  editor: ${base}\n`);
  for (const name of names) process.stdout.write(`  editor: ${base}#/pipelines/${encodeURIComponent(name)}\n`);
  const shutdown = async () => {
    await grpc?.close();
    await app.close();
    await runtime.close();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
