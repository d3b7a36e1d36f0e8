/**
 * `evoflow supervise --nats URL`: autoscaling on lag, as Seldon scales on consumer lag and KEDA's
 * JetStream scaler does. For every node of the deployed pipelines that declares `scale` (schema.ts
 * scaleSchema), it runs `evoflow worker --pipeline P --nodes NODE` child processes between
 * minReplicas and maxReplicas, from the lag of the node's async inputs (runtime/autoscale.ts),
 * and follows redeploys and removals through the definitions in KV.
 *
 * Replicas of one node share its durable consumers, so adding one takes work at once. Taking one
 * away sends it SIGTERM: the worker stops pulling, hands back what it holds but has not started
 * (nak, so another replica takes it now, not after ackWait), finishes and acknowledges what it
 * is running, then exits (runtime/cli/nats.ts). A replica that does not exit within --stop-timeout
 * is killed; its messages come back after ackWait, so nothing is lost either way. A replica that
 * dies unasked is started again.
 *
 * Every change of a node's replicas is a scaling event: a JSON record on the pipeline's stream
 * (`evoflow.<pipeline>.scale`, shown by the pipeline's status as `scaling`), a line on stdout,
 * and `evoflow_scaling_events_total` on this process's /metrics (--metrics-port) beside the
 * replicas, lag and processing time per node.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { decideReplicas, processingRate, type LagReading, type Scale } from "../autoscale";
import { PROJECT_ROOT } from "../paths";
import { edgeId, type Pipeline } from "../schema";
import { NatsTransport } from "../transport/nats";
import * as names from "../transport/nats-names";
import type { ScalingEvent } from "../transport/transport";
import { GRANT_LIST_HELP } from "./grants";
import { isLoopback } from "./loopback";
import { serversOf } from "./nats";
import { nodesDirOption } from "./node-packages";
import { workerLaunchFlags } from "./worker-launch.mjs";

const BIN = path.join(PROJECT_ROOT, "bin", "evoflow.js");

interface SuperviseOptions {
  nats: string;
  pipeline?: string;
  data: string;
  grant?: string;
  nodePackages: string[];
  interval: string;
  stopTimeout: string;
  metricsPort?: string;
  metricsHost: string;
}

interface Replica {
  child: ChildProcess;
  stopping: boolean;
}

/** One scaled node of one pipeline and the worker processes this supervisor runs for it. */
interface ScaledNode {
  pipeline: string;
  node: string;
  placement: string;
  scale: Scale;
  /** Its async input edges, whose consumers' lag it scales on. */
  inputs: string[];
  replicas: Replica[];
  /** When the replicas last changed (a scaling event), for the cool-down. */
  lastChange: number;
  target: number;
  previous?: { handled: number; at: number };
}

const running = (g: ScaledNode) => g.replicas.filter((r) => !r.stopping);

class Supervisor {
  private readonly nodes = new Map<string, ScaledNode>();
  private timer?: NodeJS.Timeout;
  private closing = false;
  readonly registry = new Registry();
  private readonly replicasGauge: Gauge;
  private readonly desiredGauge: Gauge;
  private readonly lagGauge: Gauge;
  private readonly secondsGauge: Gauge;
  private readonly events: Counter;

  constructor(private readonly transport: NatsTransport, private readonly opts: SuperviseOptions) {
    collectDefaultMetrics({ register: this.registry });
    const labelNames = ["pipeline", "node"];
    const registers = [this.registry];
    this.replicasGauge = new Gauge({ name: "evoflow_node_replicas", help: "Worker processes running a scaled node (not counting those stopping)", labelNames, registers });
    this.desiredGauge = new Gauge({ name: "evoflow_node_replicas_desired", help: "Worker processes the autoscaler wants for a scaled node", labelNames, registers });
    this.lagGauge = new Gauge({ name: "evoflow_node_lag", help: "Messages pending plus delivered-unacknowledged on a scaled node's async inputs", labelNames, registers });
    this.secondsGauge = new Gauge({ name: "evoflow_node_seconds_per_message", help: "Seconds one replica of a scaled node took per message over the last interval", labelNames, registers });
    this.events = new Counter({ name: "evoflow_scaling_events_total", help: "Changes of a scaled node's replicas", labelNames: [...labelNames, "direction"], registers });
  }

  /** A definition stored, replaced or removed: its scaled nodes are taken on, updated or stopped. */
  follow(name: string, def: Pipeline | undefined): void {
    if (this.opts.pipeline && name !== this.opts.pipeline) return;
    const wanted = new Map<string, ScaledNode>();
    for (const n of def?.nodes ?? []) {
      if (!n.scale || !n.placement) continue; // validation refuses a scaled node without a placement
      const key = `${name}/${n.id}`;
      const inputs = def!.edges.filter((e) => e.mode === "async" && e.to.startsWith(`${n.id}.`)).map((e) => edgeId(e));
      const known = this.nodes.get(key);
      wanted.set(key, known ? Object.assign(known, { scale: n.scale, placement: n.placement, inputs }) : { pipeline: name, node: n.id, placement: n.placement, scale: n.scale, inputs, replicas: [], lastChange: 0, target: 0 });
    }
    for (const [key, g] of this.nodes)
      if (g.pipeline === name && !wanted.has(key)) {
        void this.record(g, 0, `${def ? "no longer scaled" : "pipeline removed"}`, { pending: 0, ackPending: 0, handled: 0 });
        for (const r of running(g)) this.stop(g, r);
        this.nodes.delete(key);
        for (const gauge of [this.replicasGauge, this.desiredGauge, this.lagGauge, this.secondsGauge]) gauge.remove({ pipeline: g.pipeline, node: g.node });
      }
    for (const [key, g] of wanted) this.nodes.set(key, g);
  }

  start(): void {
    const loop = async () => {
      for (const g of [...this.nodes.values()]) await this.look(g).catch((err: Error) => this.say(`${g.pipeline}/${g.node}: ${err.message}`));
      if (!this.closing) this.timer = setTimeout(() => void loop(), Number(this.opts.interval));
    };
    void loop();
  }

  /** Reads the node's lag, decides, and starts or stops replicas to match. */
  private async look(g: ScaledNode): Promise<void> {
    const lag = await this.lag(g);
    const now = Date.now();
    const total = lag.pending + lag.ackPending;
    const rate = processingRate(g.previous, { handled: lag.handled, at: now }, running(g).length);
    g.previous = { handled: lag.handled, at: now };
    const labels = { pipeline: g.pipeline, node: g.node };
    this.lagGauge.set(labels, total);
    if (rate.secondsPerMessage !== undefined) this.secondsGauge.set(labels, rate.secondsPerMessage);
    const decision = decideReplicas(g.scale, g.target, total, now - g.lastChange);
    if (decision.replicas !== g.target) await this.record(g, decision.replicas, decision.reason, lag, rate);
    // Also replaces a replica that died unasked.
    while (running(g).length < g.target) this.spawn(g);
    for (const r of running(g).slice(g.target).reverse()) this.stop(g, r);
    this.replicasGauge.set(labels, running(g).length);
    this.desiredGauge.set(labels, g.target);
  }

  private async lag(g: ScaledNode): Promise<LagReading> {
    const reading: LagReading = { pending: 0, ackPending: 0, handled: 0 };
    for (const edge of g.inputs) {
      // No consumer yet (the coordinator has not attached the pipeline): nothing waits on it.
      const ci = await this.transport.jsm.consumers.info(names.streamName(g.pipeline), names.consumerName(edge)).catch(() => undefined);
      if (!ci) continue;
      reading.pending += ci.num_pending;
      reading.ackPending += ci.num_ack_pending;
      reading.handled += Math.max(0, ci.delivered.consumer_seq - ci.num_ack_pending);
    }
    return reading;
  }

  /** A scaling event: on the pipeline's stream (its history), stdout and /metrics. */
  private async record(g: ScaledNode, to: number, reason: string, lag: LagReading, rate: { handledPerSecond?: number; secondsPerMessage?: number } = {}): Promise<void> {
    const from = g.target;
    g.target = to;
    g.lastChange = Date.now();
    const event: ScalingEvent = {
      ts: g.lastChange, pipeline: g.pipeline, node: g.node, from, to,
      lag: lag.pending + lag.ackPending, pending: lag.pending, ackPending: lag.ackPending,
      ...rate, reason, supervisor: this.transport.processId,
    };
    const perMessage = rate.secondsPerMessage !== undefined ? `, ${rate.secondsPerMessage.toFixed(3)} s per message per replica` : "";
    this.say(`${g.pipeline}/${g.node} ${from} → ${to} replicas: ${reason} (pending ${lag.pending}, ack pending ${lag.ackPending}${perMessage})`);
    this.events.inc({ pipeline: g.pipeline, node: g.node, direction: to > from ? "up" : "down" });
    await this.transport.js
      .publish(names.scaleSubject(g.pipeline), JSON.stringify(event))
      .catch((err: Error) => this.say(`scaling event of ${g.pipeline}/${g.node} not stored: ${err.message}`));
  }

  private spawn(g: ScaledNode): void {
    const o = this.opts;
    const args = [BIN, "worker", "--nats", o.nats, "--pipeline", g.pipeline, "--nodes", g.node, "--placement", g.placement, "--data", o.data];
    if (o.grant !== undefined) args.push("--grant", o.grant);
    for (const dir of o.nodePackages) args.push("--node-packages", dir);
    // Started with a worker's V8 flags itself, so bin/evoflow.js needs no launcher process in between.
    const child = spawn(process.execPath, [...(workerLaunchFlags([], process.env.NODE_OPTIONS) ?? []), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const replica: Replica = { child, stopping: false };
    g.replicas.push(replica);
    const prefix = `[${g.pipeline}/${g.node} ${child.pid}] `;
    createInterface({ input: child.stdout! }).on("line", (l) => process.stdout.write(`${prefix}${l}\n`));
    createInterface({ input: child.stderr! }).on("line", (l) => process.stderr.write(`${prefix}${l}\n`));
    child.once("exit", (code, signal) => {
      g.replicas.splice(g.replicas.indexOf(replica), 1);
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (replica.stopping) this.say(`${g.pipeline}/${g.node} replica ${child.pid} stopped (${how})`);
      else if (!this.closing) this.say(`${g.pipeline}/${g.node} replica ${child.pid} exited unasked (${how}); starting another`);
    });
  }

  /** SIGTERM: the worker finishes what it runs and hands back the rest; killed if it takes longer than --stop-timeout. */
  private stop(_g: ScaledNode, r: Replica): void {
    r.stopping = true;
    r.child.kill("SIGTERM");
    const kill = setTimeout(() => r.child.kill("SIGKILL"), Number(this.opts.stopTimeout) * 1000);
    kill.unref();
    r.child.once("exit", () => clearTimeout(kill));
  }

  private say(line: string): void {
    process.stdout.write(`supervisor: ${line}\n`);
  }

  /** Stops every replica (each finishing its messages) and waits for them to exit. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    const exits: Promise<unknown>[] = [];
    for (const g of this.nodes.values())
      for (const r of g.replicas) {
        if (r.child.exitCode === null && r.child.signalCode === null) exits.push(new Promise((resolve) => r.child.once("exit", resolve)));
        if (!r.stopping) this.stop(g, r);
      }
    await Promise.all(exits);
  }
}

/** /metrics for Prometheus; other routes 404. Answers only under a loopback name or the address it listens on (DNS rebinding). */
function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const hostname = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
    if (!isLoopback(hostname) && hostname !== host) return void res.writeHead(403).end("forbidden host\n");
    if (req.method !== "GET" || req.url !== "/metrics") return void res.writeHead(404).end("not found\n");
    void registry.metrics().then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function runSupervisor(opts: SuperviseOptions): Promise<void> {
  let transport: NatsTransport;
  try {
    transport = await NatsTransport.connect({ servers: serversOf(opts.nats), role: "worker" });
  } catch (err) {
    process.stderr.write(`cannot connect to NATS at ${opts.nats}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const supervisor = new Supervisor(transport, opts);
  let metrics: Server | undefined;
  if (opts.metricsPort !== undefined) {
    metrics = await serveMetrics(supervisor.registry, opts.metricsHost, Number(opts.metricsPort)).catch((err: Error) => {
      process.stderr.write(`cannot serve /metrics on ${opts.metricsHost}:${opts.metricsPort}: ${err.message}\n`);
      process.exit(1);
    });
    const address = metrics.address();
    if (address && typeof address === "object") process.stdout.write(`supervisor: metrics on http://${opts.metricsHost}:${address.port}/metrics\n`);
  }
  const stopWatching = await transport.watchDefinitions((name, def) => supervisor.follow(name, def));
  supervisor.start();
  process.stdout.write(`supervisor ${transport.processId} watching ${opts.pipeline ? `pipeline ${opts.pipeline}` : "every pipeline"} on ${opts.nats}\n`);
  const shutdown = async () => {
    stopWatching();
    await supervisor.close();
    metrics?.close();
    await transport.close();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

const positiveInt = (flag: string) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${flag} takes a whole number of at least 1, not "${v}"`);
  return v;
};

export function register(program: Command): void {
  const command = program
    .command("supervise")
    .description("autoscale: run `evoflow worker` processes for each node that declares `scale`, between its minReplicas and maxReplicas, from the lag of its async inputs")
    .requiredOption("--nats <url>", "NATS server URL(s), comma-separated")
    .option("--pipeline <name>", "only this pipeline's nodes")
    .option("--data <dir>", "data folder of the workers", ".evoflow")
    .option("--grant <list>", `capabilities the workers' nodes may use: ${GRANT_LIST_HELP} (passed to each worker)`)
    .option("--interval <ms>", "how often the lag is read", positiveInt("--interval"), "2000")
    .option("--stop-timeout <seconds>", "how long a replica taken away may take to finish its messages before it is killed", positiveInt("--stop-timeout"), "60")
    .option("--metrics-port <port>", "serve /metrics (replicas, lag, processing time, scaling events per node) on this port (0: any free one)")
    .option("--metrics-host <host>", "address /metrics listens on", "127.0.0.1");
  nodesDirOption(command, "--node-packages <dir>").action(runSupervisor);
}
