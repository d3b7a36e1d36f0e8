/**
 * The flow engine: runs a compiled pipeline over a transport. It knows nothing
 * of HTTP and nothing of where edges go; the transport does.
 *
 * Sync replies: `emit` on a port with sync edges waits for each of them and
 * resolves with what they replied; a port with no sync edge is the end of the
 * request path, so the message emitted there is itself the reply. A node's reply
 * to its sync caller is everything its emits produced while it handled the call.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createMessage, type Message } from "../envelope";
import type { Emit, EmitOptions, Entrypoint, NodeContext, NodeInstance } from "../node-contract";
import type { Metrics, MetricsSource, NodeStats } from "../metrics";
import { payloadProblem, type PortType } from "../ports";
import { TraceStore } from "../provenance";
import { Ring, TapStore } from "../taps";
import type { DeadLetter, EdgeInfo, Transport } from "../transport/transport";
import type { CompiledNode, CompiledPipeline } from "../validate";

export interface EngineOptions {
  transport: Transport;
  metrics: Metrics;
  /** Where nodes keep their files (`<dataDir>/<pipeline>/<node>`). */
  dataDir: string;
  services?: Record<string, unknown>;
  /** Runs only these nodes here (the rest run in workers); all when absent. */
  localNodes?: ReadonlySet<string>;
  /** Messages kept for `evoflow trace`; 0 turns provenance capture off. */
  traceCapacity?: number;
  log?: NodeContext["log"];
}

interface Outlet {
  edge: EdgeInfo;
  ring: Ring<Message>;
}

interface RunningNode {
  compiled: CompiledNode;
  instance: NodeInstance;
  stats: NodeStats;
  /** Output port → its sync and async outlets. */
  outlets: Map<string, { sync: Outlet[]; async: Outlet[] }>;
  /** Input ports whose declared type is checked at run time. */
  checkedInputs: Map<string, PortType>;
}

export class NodeError extends Error {
  constructor(readonly node: string, readonly port: string, message: string) {
    super(message);
  }
}

export class RunningPipeline implements MetricsSource {
  readonly name: string;
  readonly taps: TapStore;
  readonly traces: TraceStore;
  readonly deadLetters: Ring<DeadLetter>;
  readonly entrypoints = new Map<string, Entrypoint>();
  private readonly nodes = new Map<string, RunningNode>();
  private readonly abort = new AbortController();
  private deadLetterTotal = 0;
  private stopped = false;

  constructor(readonly compiled: CompiledPipeline, private readonly options: EngineOptions) {
    this.name = compiled.pipeline.name;
    const settings = compiled.pipeline.settings;
    this.taps = new TapStore(settings?.tapCapacity ?? 256);
    this.deadLetters = new Ring(settings?.deadLetterCapacity ?? 1000);
    this.traces = new TraceStore(options.traceCapacity ?? 50_000);
  }

  get pipeline(): string {
    return this.name;
  }

  private isLocal(nodeId: string): boolean {
    return !this.options.localNodes || this.options.localNodes.has(nodeId);
  }

  async start(): Promise<void> {
    const { transport } = this.options;
    for (const compiled of this.compiled.nodes.values()) {
      if (!this.isLocal(compiled.id)) continue;
      const node: RunningNode = {
        compiled,
        instance: {},
        stats: this.options.metrics.nodeStats(this.name, compiled.id),
        outlets: new Map(Object.keys(compiled.outputs).map((p) => [p, { sync: [], async: [] }])),
        checkedInputs: new Map(Object.entries(compiled.inputs).filter(([, t]) => t.kind !== "any")),
      };
      for (const edge of this.compiled.edges.filter((e) => e.from.node === compiled.id))
        node.outlets.get(edge.from.port)![edge.mode].push({ edge, ring: this.taps.ring(edge.id) });
      node.instance = await compiled.def.create(this.context(compiled.id), compiled.config);
      this.nodes.set(compiled.id, node);
    }
    for (const edge of this.compiled.edges) {
      const target = this.nodes.get(edge.to.node);
      if (!target) continue;
      if (edge.mode === "sync") await transport.serveSync(edge, (m) => this.handle(target, edge, m));
      else
        await transport.consumeAsync(edge, async (m) => {
          await this.handle(target, edge, m).catch(() => undefined); // dead-lettered in handle
        });
    }
    this.options.metrics.add(this);
    for (const node of this.nodes.values()) await node.instance.start?.(this.emitter(node, []));
  }

  private context(nodeId: string): NodeContext {
    const dataDir = join(this.options.dataDir, this.name, nodeId);
    const log = this.options.log ?? (() => {});
    return {
      pipeline: this.name,
      nodeId,
      get dataDir() {
        mkdirSync(dataDir, { recursive: true });
        return dataDir;
      },
      log: (level, message, fields) => log(level, message, { pipeline: this.name, node: nodeId, ...fields }),
      registerEntrypoint: (entry) => this.entrypoints.set(entry.name, entry),
      service: <T>(name: string): T => {
        const s = this.options.services?.[name];
        if (s === undefined) throw new Error(`node ${nodeId} needs the "${name}" service, which this runtime does not provide`);
        return s as T;
      },
      signal: this.abort.signal,
    };
  }

  /** Handles one message arriving at a node over an edge; resolves with the node's sync reply. */
  private async handle(node: RunningNode, edge: EdgeInfo, message: Message): Promise<Message[]> {
    const port = edge.to.port;
    const expected = node.checkedInputs.get(port);
    const problem = expected && payloadProblem(expected, message.payload);
    if (problem) {
      await this.toDeadLetter(node, port, edge.id, `payload does not match input ${node.compiled.id}.${port}: ${problem}`, message);
      throw new NodeError(node.compiled.id, port, `bad message on ${node.compiled.id}.${port}: ${problem}`);
    }
    node.stats.in++;
    const started = performance.now();
    const replies: Message[] = [];
    try {
      await node.instance.onMessage?.(port, message, this.emitter(node, [message], replies));
      return replies;
    } catch (err) {
      if (err instanceof NodeError) throw err; // dead-lettered where it happened, downstream
      node.stats.errors++;
      const reason = err instanceof Error ? err.message : String(err);
      await this.toDeadLetter(node, port, edge.id, reason, message);
      throw new NodeError(node.compiled.id, port, reason);
    } finally {
      node.stats.observeLatency((performance.now() - started) / 1000);
    }
  }

  private emitter(node: RunningNode, handling: readonly Message[], replies?: Message[]): Emit {
    return async (port: string, payload: unknown, options?: EmitOptions) => {
      const outlet = node.outlets.get(port);
      if (!outlet) throw new Error(`node ${node.compiled.id} emitted on unknown port "${port}"`);
      const message = createMessage(
        { pipeline: this.name, node: node.compiled.id, port, model: options?.model },
        payload,
        options?.parents ?? handling,
        options?.traceId,
      );
      node.stats.out++;
      this.traces.record(message);
      for (const { edge, ring } of outlet.async) {
        this.taps.record(edge.id, ring, message);
        await this.options.transport.publishAsync(edge, message);
      }
      let reply: Message[];
      if (outlet.sync.length === 0) reply = [message];
      else if (outlet.sync.length === 1) reply = await this.call(outlet.sync[0], message);
      else reply = (await Promise.all(outlet.sync.map((o) => this.call(o, message)))).flat();
      if (replies) for (const r of reply) replies.push(r);
      return reply;
    };
  }

  private call({ edge, ring }: Outlet, message: Message): Promise<Message[]> {
    this.taps.record(edge.id, ring, message);
    return this.options.transport.callSync(edge, message);
  }

  private async toDeadLetter(node: RunningNode, port: string, edge: string | undefined, reason: string, message: Message): Promise<void> {
    const letter: DeadLetter = { ts: Date.now(), pipeline: this.name, node: node.compiled.id, port, edge, reason, message };
    this.deadLetters.push(letter);
    this.deadLetterTotal++;
    this.options.log?.("warn", `dead letter: ${reason}`, { pipeline: this.name, node: node.compiled.id, port });
    await this.options.transport.deadLetter(letter).catch(() => undefined);
  }

  /** Resolves when every async edge is drained and idle. */
  idle(): Promise<void> {
    return this.options.transport.idle(this.name);
  }

  async stop(options: { drain?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    if (options.drain !== false) await this.idle();
    for (const node of this.nodes.values()) await node.instance.stop?.();
    await this.options.transport.detach(this.name);
    this.options.metrics.remove(this);
  }

  *nodeStats(): Iterable<[string, NodeStats]> {
    for (const [id, n] of this.nodes) yield [id, n.stats];
  }

  *edgeStats(): Iterable<[string, { depth: number; dropped: number }]> {
    for (const e of this.compiled.edges) if (e.mode === "async") yield [e.id, this.options.transport.edgeStats(e)];
  }

  deadLetterCount(): number {
    return this.deadLetterTotal;
  }

  /** Per node: counters and the node's own live figures. */
  status(): { nodes: Record<string, Record<string, unknown>>; edges: Record<string, { mode: string; depth: number; dropped: number; tapped: number }> } {
    const nodes: Record<string, Record<string, unknown>> = {};
    for (const [id, n] of this.nodes)
      nodes[id] = { type: n.compiled.def.type, in: n.stats.in, out: n.stats.out, errors: n.stats.errors, ...n.instance.status?.() };
    const edges: Record<string, { mode: string; depth: number; dropped: number; tapped: number }> = {};
    for (const e of this.compiled.edges)
      edges[e.id] = { mode: e.mode, ...this.options.transport.edgeStats(e), tapped: this.taps.read(e.id, 0).total };
    return { nodes, edges };
  }
}

export async function runPipeline(compiled: CompiledPipeline, options: EngineOptions): Promise<RunningPipeline> {
  const running = new RunningPipeline(compiled, options);
  await running.start();
  return running;
}
