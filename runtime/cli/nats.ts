/**
 * The distributed side of the CLI:
 *
 *   evoflow run FILE --nats URL     coordinator: stores the pipeline in NATS KV, runs the
 *                                   nodes that have no `placement`, and serves the API
 *   evoflow worker --nats URL       runs nodes in this process: those named by --nodes,
 *                                   else those placed in --placement, else every placed node
 *
 * A worker takes its pipelines from the network, so it grants nodes what a Runtime does
 * when told nothing (fs-write, network: no exec), whatever the coordinator grants: each
 * process decides what it lets run. `--grant`, else the data folder's settings `grants`,
 * says otherwise; a pipeline needing more is not run here, and the worker says why.
 *   evoflow tap|trace ... --nats    read edges and traces back from the JetStream stream
 *
 * Workers take pipeline definitions from KV and follow them: a redeploy with `run`
 * redeploys the worker's share too. Several workers running the same node share its
 * work (one durable consumer per async edge, one queue group per sync edge).
 */
import type { Command } from "commander";
import type { Pipeline } from "../schema";
import { GRANT_LIST_HELP, parseGrants } from "./grants";
import { applyWorkerV8Flags } from "./heap";
import { loadServerSettings, settingsFile } from "./server-settings";
import { EnergyMeter } from "../energy";
import { edgeReadFilter, parseSince, readStream, readTrace, type StartAt } from "../transport/nats-read";
import { pipelineOfStream } from "../transport/nats-names";
import { NatsTransport, type NatsTransportOptions } from "../transport/nats";
import { WorkerRefusals } from "../transport/nats-refusals";
import { DEFAULT_GRANTS, PipelineInvalidError, Runtime, type RuntimeOptions } from "../runtime";
import { createServices } from "../services";
import { edgeId } from "../schema";
import { jsonReplacer, stringify } from "../../sdk/json";
import { EXPLANATIONS_STREAM } from "../../sdk/pipeline";
import type { TraceNode } from "../provenance";
import { commandNodeTypes, nodesDirOption } from "./node-packages";

const log: NonNullable<RuntimeOptions["log"]> = (level, message, fields) => {
  if (level !== "debug") process.stderr.write(`${level}: ${message} ${fields ? JSON.stringify(fields) : ""}\n`);
};

export const serversOf = (url: string) => url.split(",").map((s) => s.trim()).filter(Boolean);

/** Runtime options of a coordinator (`run --nats`): the NATS transport, and only the nodes without a placement run here. */
export async function natsCoordinatorOptions(url: string, options: Partial<NatsTransportOptions> = {}): Promise<Pick<RuntimeOptions, "transport" | "localNodes">> {
  const transport = await NatsTransport.connect({ servers: serversOf(url), role: "coordinator", log, ...options }).catch((err: Error) => {
    process.stderr.write(`cannot connect to NATS at ${url}: ${err.message}\n`);
    process.exit(1);
  });
  return { transport, localNodes: (_name, def) => new Set(def.nodes.filter((n) => !n.placement).map((n) => n.id)) };
}

export interface WorkerSelection {
  nodes?: string[];
  placement?: string;
}

/** The nodes of a pipeline a worker runs: named ones, else those placed in its group, else every placed node. */
export function workerNodes(def: Pipeline, selection: WorkerSelection): Set<string> {
  if (selection.nodes?.length) return new Set(def.nodes.filter((n) => selection.nodes!.includes(n.id)).map((n) => n.id));
  if (selection.placement) return new Set(def.nodes.filter((n) => n.placement === selection.placement).map((n) => n.id));
  return new Set(def.nodes.filter((n) => n.placement).map((n) => n.id));
}

interface WorkerOptions {
  nats: string;
  pipeline?: string;
  nodes?: string;
  placement?: string;
  data: string;
  replicas: string;
  grant?: string;
  nodePackages: string[];
}

async function runWorker(opts: WorkerOptions): Promise<void> {
  applyWorkerV8Flags();
  let grants, settings, cost;
  try {
    settings = loadServerSettings(opts.data);
    grants = opts.grant !== undefined ? parseGrants(opts.grant) : (settings.grants ?? [...DEFAULT_GRANTS]);
    try {
      cost = new EnergyMeter(settings.cost);
    } catch (err) {
      throw new Error(`${settingsFile(opts.data)}: $.cost: ${(err as Error).message}`);
    }
  } catch (err) {
    // An unknown capability or a bad settings file (every problem with its JSON path).
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const selection: WorkerSelection = { nodes: opts.nodes?.split(",").map((s) => s.trim()).filter(Boolean), placement: opts.placement };
  let transport: NatsTransport;
  try {
    transport = await NatsTransport.connect({ servers: serversOf(opts.nats), role: "worker", placement: opts.placement, replicas: Number(opts.replicas), log });
  } catch (err) {
    process.stderr.write(`cannot connect to NATS at ${opts.nats}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const nodeTypes = await commandNodeTypes({ dirs: opts.nodePackages, data: opts.data });
  const runtime = new Runtime({
    transport,
    nodeTypes,
    dataDir: opts.data,
    grants,
    cost,
    services: await createServices({ dataDir: opts.data, packages: nodeTypes.packages, python: settings.python, allowExec: grants.includes("exec"), cost }),
    localNodes: (_name, def) => workerNodes(def, selection),
    log,
  });
  // What this worker will not run is posted for the pipeline's status (a package it lacks, …).
  const refusals = await WorkerRefusals.open(transport.nc, transport.processId, Number(opts.replicas));
  const deployed = new Map<string, string>();
  // Definition changes are applied one at a time, in order.
  let queue = Promise.resolve();
  const apply = (name: string, def: Pipeline | undefined) => {
    if (opts.pipeline && name !== opts.pipeline) return;
    queue = queue.then(async () => {
      const text = def && JSON.stringify(def);
      if (text === deployed.get(name)) return;
      if (!def) {
        await runtime.undeploy(name);
        await refusals.withdraw(name);
        deployed.delete(name);
        process.stdout.write(`worker ${transport.processId}: pipeline ${name} removed\n`);
        return;
      }
      const nodes = workerNodes(def, selection);
      if (nodes.size === 0) {
        await refusals.withdraw(name);
        process.stderr.write(`worker ${transport.processId}: nothing of pipeline ${name} to run here (${opts.nodes ? `--nodes ${opts.nodes}` : opts.placement ? `--placement ${opts.placement}` : "no node has a placement"})\n`);
        return;
      }
      try {
        await runtime.deploy(def);
        await refusals.withdraw(name);
        deployed.set(name, text!);
        process.stdout.write(`worker ${transport.processId} running ${name}: ${[...nodes].join(", ")}\n`);
      } catch (err) {
        const problems = err instanceof PipelineInvalidError ? err.problems : [{ path: "$", message: (err as Error).message }];
        process.stderr.write(`worker ${transport.processId}: cannot run pipeline ${name}: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}\n`);
        await refusals.refuse(name, nodes, problems).catch((e: Error) => log("warn", `refusal of ${name} not posted: ${e.message}`));
      }
    });
  };
  process.stdout.write(`worker ${transport.processId} grants: ${grants.join(", ") || "none"}\n`);
  const stopWatching = await transport.watchDefinitions(apply);
  if (opts.pipeline) process.stdout.write(`worker ${transport.processId} waiting for pipeline ${opts.pipeline}\n`);
  const shutdown = async () => {
    stopWatching();
    await queue;
    // Finish the messages in hand and acknowledge them before leaving; the rest stay in the stream.
    for (const p of runtime.list()) await transport.quiesce(p.name);
    await refusals.close();
    await runtime.close();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

/** Connects for a one-off read; any failure (no server, no pipeline, no edge) is one line on stderr and exit code 1. */
async function reading(url: string, read: (transport: NatsTransport) => Promise<void>): Promise<void> {
  let transport: NatsTransport | undefined;
  try {
    transport = await NatsTransport.connect({ servers: serversOf(url), role: "worker" });
    await read(transport);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await transport?.close();
  }
}

/** `evoflow tap --nats`: prints an edge's messages from the stream, as JSON lines with their stream sequence. */
export function tapFromNats(
  pipeline: string,
  edge: string,
  opts: { nats: string; since?: string; seq?: string; last?: string; follow?: boolean },
): Promise<void> {
  return reading(opts.nats, async (transport) => {
    // A pipeline whose coordinator has stopped is read back too: its stream stays.
    const def = await transport.lastDefinition(pipeline);
    if (!def) throw new Error(`no pipeline ${pipeline} is deployed on ${opts.nats}`);
    if (edge === "dlq") {
      // The dead letters, with their reasons; bytes that never decoded are shown as text (up to 200 characters).
      for (const letter of (await transport.deadLetters(pipeline)).letters) process.stdout.write(`${stringify(letter)}\n`);
      return;
    }
    // The explanations made on demand are kept as captured traffic is (runtime/transport/nats-names.ts).
    const found = edge === EXPLANATIONS_STREAM ? { mode: "sync" as const } : def.edges.find((e) => edgeId(e) === edge);
    if (!found) throw new Error(`pipeline ${pipeline} has no edge ${edge} (edges: ${def.edges.map(edgeId).join(", ")}, dlq for the dead letters, ${EXPLANATIONS_STREAM} for explanations)`);
    const start: StartAt = opts.since
      ? { since: parseSince(opts.since) }
      : opts.seq
        ? { seq: Number(opts.seq) }
        : { last: opts.last ? Number(opts.last) : opts.follow ? 0 : 20 };
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    const filter = edgeReadFilter(pipeline, edge, found.mode ?? "sync");
    for await (const m of readStream(transport.js, pipeline, filter, start, { follow: opts.follow, signal: abort.signal }))
      process.stdout.write(`${stringify({ seq: m.seq, time: m.time.toISOString(), message: m.message })}\n`);
  });
}

function printTree(nodes: TraceNode[], indent = ""): void {
  for (const n of nodes) {
    const model = n.model ? `  model ${n.model.name}@${n.model.version}` : "";
    const payload = stringify(n.payload) ?? "";
    process.stdout.write(`${indent}${n.node}.${n.port}  ${n.id}  ${new Date(n.ts).toISOString()}${model}  ${payload.length > 80 ? `${payload.slice(0, 77)}...` : payload}\n`);
    printTree(n.parents, `${indent}  `);
  }
}

/** Every pipeline that has a stream on the server, running or not. */
async function pipelinesWithStreams(transport: NatsTransport): Promise<string[]> {
  const pipelines: string[] = [];
  for await (const stream of transport.jsm.streams.names()) {
    const pipeline = pipelineOfStream(stream);
    if (pipeline) pipelines.push(pipeline);
  }
  return pipelines;
}

/**
 * `evoflow trace --nats`: the trace's messages from every process, read from the pipelines' streams;
 * without `--pipeline`, from every pipeline's stream, running or stopped.
 */
export function traceFromNats(traceId: string, opts: { nats: string; pipeline?: string; json?: boolean }): Promise<void> {
  return reading(opts.nats, async (transport) => {
    const pipelines = opts.pipeline ? [opts.pipeline] : await pipelinesWithStreams(transport);
    for (const pipeline of pipelines) {
      const trace = await readTrace(transport.js, pipeline, traceId);
      if (trace.messages.length === 0) continue;
      if (opts.json) process.stdout.write(`${JSON.stringify({ traceId, pipeline, ...trace }, jsonReplacer, 2)}\n`);
      else {
        process.stdout.write(`trace ${traceId} in pipeline ${pipeline}\n`);
        printTree(trace.outputs, "  ");
      }
      return;
    }
    throw new Error(`trace ${traceId} not found in ${pipelines.length ? pipelines.join(", ") : "any pipeline"}`);
  });
}

export function register(program: Command): void {
  const worker = program
    .command("worker")
    .description("run nodes of pipelines deployed with `run --nats` in this process; workers running the same node share its work")
    .requiredOption("--nats <url>", "NATS server URL(s), comma-separated")
    .option("--pipeline <name>", "only this pipeline (waits for it to be deployed)")
    .option("--nodes <ids>", "run these nodes (comma-separated)")
    .option("--placement <group>", "run the nodes whose placement is this group")
    .option("--data <dir>", "data folder", ".evoflow")
    .option("--replicas <n>", "replicas of the streams and buckets this worker creates", "1")
    .option("--grant <list>", `capabilities this worker's nodes may use: ${GRANT_LIST_HELP} (default: the settings file's grants, else fs-write,network: no exec, whatever the coordinator grants, since pipelines reach a worker over the network)`);
  // --nodes names the node ids this worker runs, so the package folders have a flag of their own.
  nodesDirOption(worker, "--node-packages <dir>").action(runWorker);
}
