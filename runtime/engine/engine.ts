/**
 * The flow engine: runs a compiled pipeline over a transport. It knows nothing
 * of HTTP and nothing of where edges go; the transport does.
 *
 * Sync replies: `emit` on a port with sync edges waits for each of them and
 * resolves with what they replied. A port with no sync edge is the end of the
 * request path, so the message a node emits there is its reply to its sync
 * caller; a node's reply is everything its emits produced while it handled the
 * call. (An entry point whose port has no sync edge gets no reply.)
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AlarmWindows, isAlarmPort, type EdgeWindow } from "../alarm-windows";
import { binaryBytes } from "../binary-payload";
import { pipelineDataDir, resolveConfined } from "../confined-path";
import { SecretStore } from "../secrets";
import { createMessage, newMessageId, newTraceId, type Message, type MessageSource } from "../envelope";
import type { Emit, EmitOptions, Entrypoint, NodeContext, NodeInstance } from "../../sdk/contract";
import { NodeStats, type Metrics, type MetricsSource } from "../metrics";
import { syncSegments } from "../cpu-accounting";
import { Admission, requestPathBlockEdges } from "../overload";
import { DEFAULT_MAX_IN_FLIGHT } from "../schema";
import { payloadProblem, type PortType } from "../../sdk/ports";
import { TraceStore } from "../provenance";
import { NodeError } from "../../sdk/errors";
import type { ServiceKey } from "../../sdk/services";
import { Ring } from "../../sdk/ring";
import { TapStore } from "../taps";
import type { DeadLetter, EdgeInfo, Transport } from "../transport/transport";
import type { EdgeStatus } from "../../sdk/api-types";
import type { CompiledNode, CompiledPipeline } from "../validate";

export interface EngineOptions {
  transport: Transport;
  metrics: Metrics;
  /** The runtime's data folder: each pipeline's is `<dataDir>/<pipeline>`, its nodes' `<dataDir>/<pipeline>/<node>`. */
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
  /** Its window for root-cause analysis, on edges upstream of a drift node (runtime/alarm-windows.ts). */
  window: EdgeWindow | undefined;
  /** Hands a message to this async edge (see Transport.publishAsync). */
  publish: (message: Message, handling?: Message) => Promise<void> | undefined;
}

interface OutputPort {
  /** Shared by every message from this port that names no model: one object, not one per message. */
  source: MessageSource;
  sync: Outlet[];
  async: Outlet[];
  /** An `event<drift>` port: what it emits is kept as an alarm. */
  alarms: boolean;
}

interface RunningNode {
  compiled: CompiledNode;
  instance: NodeInstance;
  stats: NodeStats;
  outlets: Map<string, OutputPort>;
  /** Input ports whose declared type is checked at run time. */
  checkedInputs: Map<string, PortType>;
}

const NO_REPLY = Object.freeze([]) as unknown as Message[];
/** See RunningPipeline.call. */
const MAX_NESTED_SYNC_HOPS = 100;
/** What emit resolves with on a port without sync edges: shared, as it is the common case of every hop. */
const ANSWERED_NOTHING = Promise.resolve(NO_REPLY);

/** What one handling of a message has produced: its sync reply, and emits still under way. */
interface Invocation {
  replies: Message[] | undefined;
  pending: Promise<unknown>[] | undefined;
  /**
   * While the node's onMessage runs (its synchronous part), the wall-clock ms its handling
   * began, which its emits take as their `ts`; undefined after, when emits read the clock.
   * A hop already reads the clock twice (latency); a third read was ~10% of a trivial hop.
   */
  startedMs: number | undefined;
}

/** performance.now() to Date.now()'s scale, for a message's `ts` (see Invocation.startedMs). */
const TIME_ORIGIN = performance.timeOrigin;

/** JSONata and some libraries throw plain objects with a `message`: keep it rather than "[object Object]". */
function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") return (err as { message: string }).message;
  return String(err);
}

function collectInto(replies: Message[] | undefined, reply: Message[]): Message[] {
  if (replies) for (const r of reply) replies.push(r);
  return reply;
}

/**
 * The source of a message a model made. Not `{ ...source, model }`: in Node 20 an object
 * literal that spreads another and adds properties takes ~350 ns to make (9 ns without the
 * added ones) and ends up in the old generation, which only major collections clear (2
 * million of them promoted 186 MB). On the sync-path bench this line and two in the v2
 * routes promoted ~114 KB between young collections, now ~3 KB.
 */
function withModel(source: MessageSource, model: NonNullable<MessageSource["model"]>): MessageSource {
  return { pipeline: source.pipeline, node: source.node, port: source.port, model };
}

/** Remembers an emit still under way so the handling waits for it even if the node did not await it. */
function track<T>(invocation: Invocation | undefined, promise: Promise<T>): Promise<T> {
  if (invocation) {
    promise.catch(() => undefined); // observed by settle(); never an unhandled rejection
    (invocation.pending ??= []).push(promise);
  }
  return promise;
}

/** A node whose `create` or `start` threw: the pipeline did not start (a missing model, a file it cannot open). */
export class NodeStartError extends Error {
  constructor(readonly node: string, reason: unknown) {
    super(`node "${node}" could not start: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
  }
}

export class RunningPipeline implements MetricsSource {
  readonly name: string;
  readonly taps: TapStore;
  readonly traces: TraceStore;
  /** Drift alarms and the windows upstream of them. */
  readonly alarms: AlarmWindows;
  readonly deadLetters: Ring<DeadLetter>;
  readonly entrypoints = new Map<string, Entrypoint>();
  /** Load shedding of the sync requests of its entry points (runtime/overload.ts). */
  readonly admission: Admission;
  private readonly nodes = new Map<string, RunningNode>();
  private readonly abort = new AbortController();
  private deadLetterTotal = 0;
  private stopped = false;
  /** CPU-seconds per node (settings cost.nodeCpu); bench/cost-overhead.ts flips it to measure what it costs. */
  meterCpu: boolean;

  constructor(readonly compiled: CompiledPipeline, private readonly options: EngineOptions) {
    this.name = compiled.pipeline.name;
    const settings = compiled.pipeline.settings;
    this.taps = new TapStore(settings?.tapCapacity ?? 256, settings?.tapBytes);
    this.deadLetters = new Ring(settings?.deadLetterCapacity ?? 1000);
    this.alarms = new AlarmWindows(this.name, compiled.nodes, compiled.edges, settings?.rca);
    this.traces = new TraceStore(settings?.traceCapacity ?? options.traceCapacity ?? 10_000, settings?.traceBytes);
    this.admission = new Admission(this.name, settings?.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, options.transport, (reason) => options.metrics.shed(this.name, reason));
    this.meterCpu = options.metrics.cost.settings.nodeCpu;
  }

  get pipeline(): string {
    return this.name;
  }

  private isLocal(nodeId: string): boolean {
    return !this.options.localNodes || this.options.localNodes.has(nodeId);
  }

  async start(): Promise<void> {
    const { transport } = this.options;
    const localNodes = [...this.compiled.nodes.keys()].filter((id) => this.isLocal(id));
    await transport.attach?.({ pipeline: this.compiled.pipeline, edges: this.compiled.edges, localNodes });
    for (const compiled of this.compiled.nodes.values()) {
      if (!this.isLocal(compiled.id)) continue;
      const node: RunningNode = {
        compiled,
        instance: {},
        stats: new NodeStats(this.options.metrics.cost.settings.nodeCpuSampleEvery),
        outlets: new Map(
          Object.keys(compiled.outputs).map((p) => [p, { source: { pipeline: this.name, node: compiled.id, port: p }, sync: [], async: [], alarms: isAlarmPort(compiled, p) }]),
        ),
        checkedInputs: new Map(Object.entries(compiled.inputs).filter(([, t]) => t.kind !== "any")),
      };
      for (const edge of this.compiled.edges.filter((e) => e.from.node === compiled.id))
        node.outlets.get(edge.from.port)![edge.mode].push({
          edge,
          ring: this.taps.ring(edge.id),
          window: this.alarms.window(edge.id),
          publish: this.options.transport.publisher?.(edge) ?? ((m, h) => this.options.transport.publishAsync(edge, m, h)),
        });
      try {
        node.instance = await compiled.def.create(this.context(compiled.id), compiled.config);
      } catch (err) {
        throw new NodeStartError(compiled.id, err);
      }
      this.nodes.set(compiled.id, node);
    }
    for (const edge of this.compiled.edges) {
      const target = this.nodes.get(edge.to.node);
      if (!target) continue;
      // Failures are dead-lettered in handle(); the async consumer just moves on.
      // The input's declared type, looked up once per edge rather than per message.
      const expected = target.checkedInputs.get(edge.to.port);
      if (edge.mode === "sync") await transport.serveSync(edge, (m) => this.handle(target, edge, expected, m, true));
      else await transport.consumeAsync(edge, (m) => this.handle(target, edge, expected, m, false));
    }
    this.options.metrics.add(this);
    // Downstream first: a source may emit from within its start() (an MQTT session resuming, a
    // generator), and each node its messages reach must have started by then.
    for (const id of downstreamFirst(this.compiled.edges, [...this.nodes.keys()])) {
      const node = this.nodes.get(id)!;
      try {
        await node.instance.start?.(this.emitter(node, undefined));
      } catch (err) {
        throw new NodeStartError(id, err);
      }
    }
  }

  private context(nodeId: string): NodeContext {
    const pipelineDir = pipelineDataDir(this.options.dataDir, this.name);
    const dataDir = join(pipelineDir, nodeId);
    const log = this.options.log ?? (() => {});
    return {
      pipeline: this.name,
      nodeId,
      get dataDir() {
        mkdirSync(dataDir, { recursive: true });
        return dataDir;
      },
      resolvePath: (path, options) => resolveConfined(pipelineDir, path, options),
      secret: (reference) => new SecretStore(this.options.dataDir).resolve(reference),
      log: (level, message, fields) => log(level, message, { pipeline: this.name, node: nodeId, ...fields }),
      registerEntrypoint: (entry) => this.entrypoints.set(entry.name, this.admission.guard(entry, requestPathBlockEdges(this.compiled.edges, nodeId))),
      service: <T>(key: ServiceKey<T> | string): T => {
        const name = typeof key === "string" ? key : key.name;
        const s = this.options.services?.[name];
        if (s === undefined) throw new Error(`node ${nodeId} needs the "${name}" service, which this runtime does not provide`);
        return s as T;
      },
      deadLetter: (payload, reason, port = "out") => {
        const node = this.nodes.get(nodeId)!;
        return this.toDeadLetter(node, port, undefined, reason, createMessage({ pipeline: this.name, node: nodeId, port }, payload));
      },
      signal: this.abort.signal,
      accountCpu: (seconds) => this.nodes.get(nodeId)?.stats.cpu.addExternal(seconds),
    };
  }

  /**
   * Handles one message arriving at a node over an edge. When the node and every
   * edge it emits on finish at once, this returns the reply itself and no promise
   * is made: that keeps a hop of the in-process engine allocation-light.
   */
  private handle(node: RunningNode, edge: EdgeInfo, expected: PortType | undefined, message: Message, wantsReply: boolean): Message[] | Promise<Message[]> {
    const port = edge.to.port;
    const problem = expected && payloadProblem(expected, message.payload);
    if (problem)
      return this.fail(node, edge, message, new NodeError(node.compiled.id, port, `payload does not match input ${node.compiled.id}.${port}: ${problem}`));
    node.stats.in++;
    const started = performance.now();
    // CPU is charged for the synchronous segment of sampled calls (runtime/cpu-accounting.ts says why).
    const timed = this.meterCpu && syncSegments.enter(node.stats.cpu);
    const invocation: Invocation = { replies: wantsReply ? [] : undefined, pending: undefined, startedMs: Math.floor(TIME_ORIGIN + started) };
    let result: void | Promise<void> | undefined;
    try {
      result = node.instance.onMessage?.(port, message, this.emitter(node, message, invocation));
    } catch (err) {
      invocation.startedMs = undefined;
      if (timed) syncSegments.exit(node.stats.cpu);
      node.stats.observeLatency((performance.now() - started) / 1000);
      return this.fail(node, edge, message, err);
    }
    invocation.startedMs = undefined;
    if (timed) syncSegments.exit(node.stats.cpu);
    if (!result && !invocation.pending) {
      node.stats.observeLatency((performance.now() - started) / 1000);
      return invocation.replies ?? NO_REPLY;
    }
    return this.settle(node, edge, message, result, invocation, started);
  }

  /** Waits for the node and for every emit it made (awaited by the node or not), so failures downstream are its failures. */
  private async settle(node: RunningNode, edge: EdgeInfo, message: Message, result: void | Promise<void> | undefined, invocation: Invocation, started: number): Promise<Message[]> {
    try {
      await result;
      while (invocation.pending) {
        const pending = invocation.pending;
        invocation.pending = undefined;
        await Promise.all(pending);
      }
      return invocation.replies ?? NO_REPLY;
    } catch (err) {
      return this.fail(node, edge, message, err);
    } finally {
      node.stats.observeLatency((performance.now() - started) / 1000);
    }
  }

  private async fail(node: RunningNode, edge: EdgeInfo, message: Message, err: unknown): Promise<never> {
    if (err instanceof NodeError && err.node !== node.compiled.id) throw err; // dead-lettered where it happened, downstream
    const port = edge.to.port;
    if (!(err instanceof NodeError)) node.stats.errors++;
    const reason = errorMessage(err);
    await this.toDeadLetter(node, port, edge.id, reason, message);
    throw err instanceof NodeError ? err : new NodeError(node.compiled.id, port, reason);
  }

  /** `handling` is the message being handled (the default parent), none for sources. */
  private emitter(node: RunningNode, handling: Message | undefined, invocation?: Invocation): Emit {
    return (port: string, payload: unknown, options?: EmitOptions) => {
      const outlet = node.outlets.get(port);
      if (!outlet) return track(invocation, Promise.reject(new Error(`node ${node.compiled.id} emitted on unknown port "${port}"`)));
      const parents = options?.parents;
      const message: Message = {
        id: newMessageId(),
        traceId: options?.traceId ?? (parents ? parents[0]?.traceId : handling?.traceId) ?? newTraceId(),
        parents: parents ? parents.map((p) => p.id) : handling ? [handling.id] : [],
        ts: invocation?.startedMs ?? Date.now(),
        source: options?.model ? withModel(outlet.source, options.model) : outlet.source,
        payload,
      };
      node.stats.out++;
      const binary = binaryBytes(payload);
      this.traces.record(message, binary);
      if (outlet.alarms) this.alarms.record(message);
      // Hand off to async edges without waiting unless a queue pushes back.
      let accepted: Promise<void> | undefined;
      for (const { edge, ring, window, publish } of outlet.async) {
        this.taps.record(edge.id, ring, message, binary);
        window?.push(message, binary);
        const p = publish(message, handling);
        if (p) accepted = accepted ? Promise.all([accepted, p]).then(() => undefined) : p;
      }
      if (outlet.sync.length === 0) {
        invocation?.replies?.push(message);
        return accepted ? track(invocation, accepted.then(() => NO_REPLY)) : ANSWERED_NOTHING;
      }
      // No named closure per message here: tsx (esbuild keepNames) would wrap each in a
      // __name() call that costs more than the hop itself.
      const replies = invocation?.replies;
      if (!accepted && outlet.sync.length === 1) {
        // A sync chain that finishes at once answers at once: no promise per hop.
        const reply = this.call(outlet.sync[0], message, binary);
        if (!(reply instanceof Promise)) return Promise.resolve(collectInto(replies, reply));
        return track(invocation, reply.then((r) => collectInto(replies, r)));
      }
      return track(
        invocation,
        (accepted ?? Promise.resolve()).then(async () => collectInto(replies, (await Promise.all(outlet.sync.map((o) => this.call(o, message, binary)))).flat())),
      );
    };
  }

  /**
   * Sync hops nested on the stack now: a chain that finishes at once runs as nested calls
   * (~8 frames a hop), and a chain of 1,000 nodes overflowed the stack at its 800th. Past
   * MAX_NESTED_SYNC_HOPS the next hop starts on a fresh stack, a microtask later.
   */
  private nestedCalls = 0;

  private call({ edge, ring, window }: Outlet, message: Message, binary: number): Message[] | Promise<Message[]> {
    this.taps.record(edge.id, ring, message, binary);
    window?.push(message, binary);
    if (this.nestedCalls >= MAX_NESTED_SYNC_HOPS) return Promise.resolve().then(() => this.options.transport.callSync(edge, message));
    this.nestedCalls++;
    try {
      return this.options.transport.callSync(edge, message);
    } finally {
      this.nestedCalls--;
    }
  }

  private async toDeadLetter(node: RunningNode, port: string, edge: string | undefined, reason: string, message: Message): Promise<void> {
    const letter: DeadLetter = { ts: Date.now(), pipeline: this.name, node: node.compiled.id, port, edge, reason, message };
    // A transport with deliveries left (nats' maxDeliver) retries the message instead: no letter, nothing counted.
    const stored = await this.options.transport.deadLetter(letter).catch(() => true);
    if (!stored) return;
    this.deadLetters.push(letter);
    this.deadLetterTotal++;
    this.options.log?.("warn", `dead letter: ${reason}`, { pipeline: this.name, node: node.compiled.id, port });
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

  requestsInFlight(): number {
    return this.admission.current;
  }

  /** Per node: counters and the node's own live figures. */
  status(): { nodes: Record<string, Record<string, unknown>>; edges: Record<string, EdgeStatus> } {
    const nodes: Record<string, Record<string, unknown>> = {};
    for (const [id, n] of this.nodes)
      nodes[id] = { type: n.compiled.def.type, in: n.stats.in, out: n.stats.out, errors: n.stats.errors, cpuSeconds: n.stats.cpu.cpuSeconds, ...n.instance.status?.() };
    const edges: Record<string, EdgeStatus> = {};
    for (const e of this.compiled.edges)
      edges[e.id] = { mode: e.mode, ...this.options.transport.edgeStats(e), tapped: this.taps.read(e.id, 0).total };
    return { nodes, edges };
  }
}

export async function runPipeline(compiled: CompiledPipeline, options: EngineOptions): Promise<RunningPipeline> {
  const running = new RunningPipeline(compiled, options);
  try {
    await running.start();
  } catch (err) {
    // The nodes that did start (timers, child processes, transport subscriptions) are stopped, not leaked.
    await running.stop({ drain: false }).catch(() => {});
    throw err;
  }
  return running;
}

/** Node ids in an order where each comes after every node its edges lead to (post-order; a cycle is cut where it closes). */
function downstreamFirst(edges: readonly { from: { node: string }; to: { node: string } }[], ids: readonly string[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from.node, [...(next.get(e.from.node) ?? []), e.to.node]);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const to of next.get(id) ?? []) visit(to);
    order.push(id);
  };
  for (const id of ids) visit(id);
  const local = new Set(ids);
  return order.filter((id) => local.has(id));
}
