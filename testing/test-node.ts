/**
 * A node definition run for a test on the real engine, as a pipeline of three nodes:
 * `testing.feed` → the node under test → `testing.capture` (harness.ts), one edge per port,
 * deployed by a real Runtime on the in-process transport. So the config goes through the same
 * validation as a deploy, payloads are checked against the input port types, thrown errors
 * become dead letters, capabilities, services and config paths are refused or granted as a
 * runtime does — nothing of the node contract is imitated here.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { z } from "zod";
import { pipelineDataDir } from "../runtime/confined-path";
import type { RunningPipeline } from "../runtime/engine/engine";
import { NodeTypes } from "../runtime/node-types";
import { PipelineInvalidError, Runtime } from "../runtime/runtime";
import type { DeadLetter } from "../runtime/transport/transport";
import { inputsOf, missingCapabilities, missingServices, outputsOf, parseConfig, type Capability, type NodeDefinition } from "../sdk/contract";
import type { Message } from "../sdk/envelope";
import { NodeError } from "../sdk/errors";
import type { Ports } from "../sdk/ports";
import type { ServiceKey } from "../sdk/services";
import { Captured, CAPTURE_ID, captureNode, FEED_ID, feedNode } from "./harness";

/** A service given to the node under test; make it with `provide(key, value)`. */
export interface ProvidedService<T = unknown> {
  readonly name: string;
  readonly value: T;
}

/** The service `key` (from `defineService<T>`) given as `value`, checked against the key's type. */
export function provide<T>(key: ServiceKey<T> | string, value: T): ProvidedService<T> {
  return { name: typeof key === "string" ? key : key.name, value };
}

export interface LoadNodeOptions<S extends z.ZodType = z.ZodType> {
  /** The node's config as a pipeline file gives it (defaults are applied by its schema). */
  config?: z.input<S>;
  /** The node's id in the test pipeline (messages' `source.node`, the node's data folder); default "node". */
  id?: string;
  /** Services the node asks for with `ctx.service(key)`. */
  services?: readonly ProvidedService[];
  /** Capabilities granted (none by default): a node needing one not granted does not load. */
  grants?: readonly Capability[];
  /** Files written into the pipeline's data folder before the node starts, by path relative to it. */
  files?: Record<string, string | Uint8Array>;
  /** The edges into and out of the node: sync by default, async for a node refusing sync inputs. */
  mode?: "sync" | "async";
  /** How long `next()` waits for a message and `send()` for its handling, by default, in ms (5000). */
  timeout?: number;
}

/** A message the node sent to the dead letters, and why. */
export interface SeenDeadLetter {
  /** The input port it arrived on. */
  port: string;
  reason: string;
  payload: unknown;
  message: Message;
}

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  fields?: Record<string, unknown>;
}

export interface Problem {
  /** JSON path from the node's own entry in a pipeline file: `$.config.window`, `$.type`. */
  path: string;
  message: string;
}

/** The node could not load: its config is invalid, it lacks a capability or service, or it did not start. */
export class NodeLoadError extends Error {
  constructor(readonly type: string, readonly problems: Problem[]) {
    super(`${type} could not load:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join("\n")}`);
  }
}

/** Runs `def` with `options.config` on the real engine; `await node.stop()` when done. */
export async function loadNode<S extends z.ZodType>(def: NodeDefinition<S>, options: LoadNodeOptions<S> = {}): Promise<TestNode> {
  const node = new TestNode(def as unknown as NodeDefinition, options as LoadNodeOptions);
  try {
    await node.start();
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}

export class TestNode {
  readonly id: string;
  readonly type: string;
  /** The pipeline's data folder, where config paths resolve; the node's own (`ctx.dataDir`) is `<dataDir>/<id>`. Removed by stop(). */
  readonly dataDir: string;
  private readonly root: string;
  private readonly runtime: Runtime;
  private readonly captured = new Captured();
  private readonly inputs: Ports;
  private readonly outputs: Ports;
  private readonly feed: ReturnType<typeof feedNode>;
  private readonly pipeline: Record<string, unknown>;
  private readonly mode: "sync" | "async";
  private readonly timeout: number;
  private readonly logged: LogEntry[] = [];
  /** Dead letters of runs before a restart(). */
  private readonly earlierLetters: DeadLetter[] = [];
  private running?: RunningPipeline;
  private started = false;
  private stopped = false;

  constructor(private readonly def: NodeDefinition, private readonly options: LoadNodeOptions) {
    this.id = options.id ?? "node";
    this.type = def.type;
    this.mode = options.mode ?? (def.acceptsSync === false ? "async" : "sync");
    this.timeout = options.timeout ?? 5000;
    // Ports that depend on the config are read from the parsed config; an invalid one is reported by the deploy.
    const parsed = parseConfig(def, options.config);
    this.inputs = parsed === undefined ? {} : inputsOf(def, parsed);
    this.outputs = parsed === undefined ? {} : outputsOf(def, parsed);
    this.feed = feedNode(this.inputs);
    const name = `test-${def.type.replace(/[^A-Za-z0-9_-]/g, "-")}`;
    this.root = mkdtempSync(path.join(tmpdir(), "evoflow-testing-"));
    this.dataDir = pipelineDataDir(this.root, name);
    mkdirSync(this.dataDir);
    const types = new NodeTypes([def, this.feed.def, captureNode(Object.keys(this.outputs), this.captured)]);
    this.runtime = new Runtime({
      nodeTypes: types,
      dataDir: this.root,
      grants: options.grants ?? [],
      services: Object.fromEntries((options.services ?? []).map((s) => [s.name, s.value])),
      log: (level, message, fields) => void this.logged.push({ level, message, fields }),
    });
    const edge = (from: string, to: string) => ({ from, to, mode: this.mode });
    this.pipeline = {
      apiVersion: "evoflow/v1",
      name,
      nodes: [
        { id: this.id, type: def.type, config: options.config ?? {} },
        { id: FEED_ID, type: "testing.feed" },
        { id: CAPTURE_ID, type: "testing.capture" },
      ],
      edges: [
        ...Object.keys(this.inputs).map((p) => edge(`${FEED_ID}.${p}`, `${this.id}.${p}`)),
        ...Object.keys(this.outputs).map((p) => edge(`${this.id}.${p}`, `${CAPTURE_ID}.${p}`)),
      ],
    };
  }

  /** Creates and starts the node (loadNode does); refused with NodeLoadError. */
  async start(): Promise<void> {
    if (this.stopped) throw new Error(`${this.label} is stopped`);
    const refused = this.missingGrantsAndServices();
    if (refused.length) throw new NodeLoadError(this.type, refused);
    // Once: a restart finds what the node itself wrote there.
    if (!this.started) this.writeFiles();
    this.started = true;
    try {
      this.running = await this.runtime.deploy(this.pipeline);
    } catch (err) {
      if (err instanceof PipelineInvalidError) throw new NodeLoadError(this.type, err.problems.map((p) => this.fromNodeEntry(p)));
      throw err;
    }
  }

  /**
   * Sends `payload` into input `port` and resolves once the node has handled it: what it
   * emitted is then in `emitted()`, and a message it refused in `deadLetters()` (bad input is
   * a dead letter, not a rejection, as in a pipeline). A handling still unfinished after the
   * timeout rejects, so a hung node fails its test rather than stalling it.
   */
  async send(port: string, payload: unknown, options: { traceId?: string; timeout?: number } = {}): Promise<void> {
    if (!(port in this.inputs)) throw new Error(`${this.label} has no input port "${port}"; its inputs: ${this.portList(this.inputs)}`);
    const handled = (async () => {
      try {
        await this.feed.emitter()(port, payload, options.traceId ? { traceId: options.traceId } : undefined);
      } catch (err) {
        if (!(err instanceof NodeError)) throw err;
      }
      if (this.mode === "async") await this.idle();
    })();
    const ms = options.timeout ?? this.timeout;
    await within(handled, ms, () => `${this.label} did not finish handling a message on "${port}" within ${ms} ms`);
  }

  /** The next message on output `port` that next() has not returned yet, waiting for it up to the timeout. */
  async next<P = unknown>(port: string, options: { timeout?: number } = {}): Promise<Message<P>> {
    this.checkOutput(port);
    const taken = this.captured.take(port);
    if (taken.message) return taken.message as Message<P>;
    const ms = options.timeout ?? this.timeout;
    return (await within(taken.wait!, ms, () => {
      taken.cancel();
      return this.nothingOn(port, ms);
    })) as Message<P>;
  }

  /** Every message emitted on output `port` so far, in order. */
  emitted<P = unknown>(port: string): Message<P>[] {
    this.checkOutput(port);
    return this.captured.all(port) as Message<P>[];
  }

  /** The payloads of emitted(port). */
  payloads<P = unknown>(port: string): P[] {
    return this.emitted<P>(port).map((m) => m.payload);
  }

  deadLetters(): SeenDeadLetter[] {
    const letters = [...this.earlierLetters, ...(this.running?.deadLetters.toArray() ?? [])];
    return letters
      .filter((l) => l.node === this.id)
      .map((l) => ({ port: l.port, reason: l.reason, payload: l.message.payload, message: l.message }));
  }

  /** The node's live figures as the dashboard shows them: counters (`in`, `out`, `errors`) and its own `status()`. */
  status(): Record<string, unknown> {
    return this.running?.status().nodes[this.id] ?? {};
  }

  /** What the node logged with ctx.log (and the engine about it), in order. */
  logs(): LogEntry[] {
    return this.logged.filter((l) => l.fields?.node === this.id);
  }

  /** Resolves once every async edge of the test pipeline is drained. */
  idle(): Promise<void> {
    return this.running ? this.running.idle() : Promise.resolve();
  }

  /** Stops the node (its `stop()` runs) and starts a new instance with the same config and data folder, as a redeploy does. */
  async restart(): Promise<void> {
    this.earlierLetters.push(...(this.running?.deadLetters.toArray() ?? []));
    await this.runtime.undeploy(this.pipeline.name as string);
    this.running = undefined;
    await this.start();
  }

  /**
   * Stops the node (its `stop()` runs, async edges drain first) and removes the data folder,
   * unless `keepData`: then what the node wrote and flushed on stop stays there to be read.
   */
  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.runtime.close();
    } finally {
      if (!options.keepData) rmSync(this.root, { recursive: true, force: true });
    }
  }

  private get label(): string {
    return `node "${this.id}" (${this.type})`;
  }

  private portList(ports: Ports): string {
    return Object.keys(ports).join(", ") || "none";
  }

  private checkOutput(port: string): void {
    if (!(port in this.outputs)) throw new Error(`${this.label} has no output port "${port}"; its outputs: ${this.portList(this.outputs)}`);
  }

  private nothingOn(port: string, ms: number): string {
    const seen = this.captured.takenCount(port);
    const letters = this.deadLetters();
    return (
      `${this.label} emitted nothing on "${port}" within ${ms} ms` +
      (seen ? ` (its ${seen} earlier message${seen > 1 ? "s" : ""} there were taken by next())` : "") +
      (letters.length ? `; its dead letters: ${letters.map((l) => `[${l.port}] ${l.reason}`).join("; ")}` : "; no dead letters")
    );
  }

  /** Capabilities and services the node declares that the test did not give, with how to give them. */
  private missingGrantsAndServices(): Problem[] {
    const capabilities = missingCapabilities(this.def, new Set(this.options.grants ?? []), this.options.config);
    const services = missingServices(this.def, new Set(Object.keys(this.runtime.services)));
    return [
      ...capabilities.map((c) => ({ path: "$.type", message: `needs the "${c}" capability: grant it with loadNode(def, { grants: ["${c}"] })` })),
      ...services.map((s) => ({ path: "$.type", message: `needs the "${s}" service: give it with loadNode(def, { services: [provide(key, value)] })` })),
    ];
  }

  /** `$.nodes[0].config.x` (the node under test is the first node) → `$.config.x`; an edge by its ends. */
  private fromNodeEntry(problem: Problem): Problem {
    const own = /^\$\.nodes\[0\](.*)$/.exec(problem.path);
    if (own) return { path: `$${own[1]}`, message: problem.message };
    const edge = /^\$\.edges\[(\d+)\]/.exec(problem.path);
    const edges = this.pipeline.edges as { from: string; to: string }[];
    if (edge) return { path: `edge ${edges[Number(edge[1])].from} → ${edges[Number(edge[1])].to}`, message: problem.message };
    return problem;
  }

  private writeFiles(): void {
    for (const [name, content] of Object.entries(this.options.files ?? {})) {
      const file = path.resolve(this.dataDir, name);
      if (!file.startsWith(this.dataDir + path.sep)) throw new Error(`files: "${name}" is outside the data folder`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
  }
}

/** `promise`, or a rejection with `why()` once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)));
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
