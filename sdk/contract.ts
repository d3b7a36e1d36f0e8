/**
 * The node contract. One `defineNode` declaration drives validation, the type
 * checker, the editor's palette and property form, `evoflow nodes` and the docs.
 */
import { z } from "zod";
import type { Message } from "./envelope";
import type { Ports } from "./ports";
import type { ResolvePathOptions } from "./config-path";
import type { ServiceKey } from "./services";

/**
 * Evoflow's own categories, in the palette's order. A category is an open string: a package
 * may give its nodes one of these or its own ("imaging"), which the palette lists after these.
 */
export const CATEGORIES = ["io", "transform", "model", "drift", "sampler", "trainer", "validator", "control"] as const;
// `string & {}` keeps the known names as editor completions while any string is accepted.
export type Category = (typeof CATEGORIES)[number] | (string & {});

/** How a node type is shown in the palette and on the canvas, beside its category. */
export interface NodeLook {
  /** A CSS colour `#rrggbb` (default: its category's). */
  color?: string;
  /** A short mark, an emoji or up to 3 letters, e.g. "⚖" or "Σ" (default: none). */
  icon?: string;
}

/** A worked example for the node's help: a config, and a payload in and what comes out. */
export interface NodeExample {
  config?: Record<string, unknown>;
  input?: unknown;
  output?: unknown;
}

/**
 * What a node type may need beyond computing on its messages, granted by the runtime
 * (RuntimeOptions.grants): `exec` runs a process or user code of the pipeline's choosing,
 * `fs-write` writes files at paths the pipeline names, `network` opens connections of its
 * own to other services (not the runtime's own transport, registry or agents). Reading
 * config paths needs none: they are confined to the pipeline's data folder anyway.
 */
export const CAPABILITIES = ["exec", "fs-write", "network"] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface EmitOptions {
  /** Messages this one was made from. Defaults to the message being handled (none in `start`). */
  parents?: readonly Message[];
  /** Defaults to the first parent's trace, or a new trace. */
  traceId?: string;
  /** The model version that produced the payload, recorded for provenance. */
  model?: { name: string; version: string | number };
}

/**
 * Emits a payload on an output port. Resolves once every sync edge from that port
 * has answered (async edges only enqueue), with what they answered: the messages
 * that reached the end of the request path behind them. A port with no sync edge
 * resolves with no messages: what is emitted there ends the request path and is
 * the handling node's own answer to its sync caller, which the engine collects.
 * A node need not await its emits: the engine waits for them before the message
 * counts as handled. See runtime/engine/engine.ts.
 */
export type Emit = (port: string, payload: unknown, options?: EmitOptions) => Promise<Message[]>;

/** A sync entry point into the pipeline (used by `io.http`); the API layer exposes it, the engine knows no HTTP. */
export interface Entrypoint {
  name: string;
  invoke(payload: unknown, options?: { traceId?: string }): Promise<Message[]>;
}

export interface NodeContext {
  pipeline: string;
  nodeId: string;
  /** This node's own folder for its state (`<pipeline's data folder>/<node id>`), created on first use. */
  dataDir: string;
  /**
   * A path from the node's config (declared with `configPath`) as the real path to open,
   * relative to the pipeline's data folder with symlinks followed; rejects (a message being
   * handled then goes to the dead letters) when it leaves that folder. Call it when opening.
   */
  resolvePath(path: string, options?: ResolvePathOptions): Promise<string>;
  /**
   * The value a `configSecret` field refers to (`${secret:NAME}` from the data folder's secret
   * store, `${env:EVOFLOW_NAME}` from the environment); rejects naming what is missing. Call it
   * when connecting, and keep the value out of statuses, logs and messages.
   */
  secret(reference: string): Promise<string>;
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>): void;
  registerEntrypoint(entry: Entrypoint): void;
  /**
   * A shared service the host provides (model registry, agents, …), by its key (list the key
   * in the type's `services`, so a runtime lacking it refuses the pipeline up front) or name.
   */
  service<T>(key: ServiceKey<T> | string): T;
  /**
   * Sends what a source received but cannot emit (a broker's message that is not JSON) to the
   * pipeline's dead letters with the reason, as a failing handler's message goes there; `port`
   * names the output it was meant for. Resolves once stored, so a source may acknowledge it.
   */
  deadLetter(payload: unknown, reason: string, port?: string): Promise<void>;
  /** Aborted when the pipeline stops. */
  signal: AbortSignal;
  /**
   * Adds CPU seconds this node caused in another process (its Python worker, …) to its
   * `evoflow_node_cpu_seconds_total`; the engine measures only what runs in its own process.
   * Optional: contexts made outside the engine (tests, CLIs) may not account.
   */
  accountCpu?(seconds: number): void;
}

export interface NodeInstance {
  /** Called once the whole pipeline is wired; sources start producing here. */
  start?(emit: Emit): void | Promise<void>;
  onMessage?(port: string, message: Message, emit: Emit): void | Promise<void>;
  /** Flush and release; called on undeploy. */
  stop?(): void | Promise<void>;
  /** Live figures for the dashboard (drift magnitude, buffer fill, …). */
  status?(): Record<string, unknown>;
}

type PortsOf<C> = Ports | ((config: C) => Ports);

export interface NodeDefinition<S extends z.ZodType = z.ZodType> extends NodeLook {
  type: string;
  category: Category;
  title: string;
  description: string;
  /** Shown in the editor's help panel with the config fields and ports the declaration gives. */
  example?: NodeExample;
  inputs: PortsOf<z.output<S>>;
  outputs: PortsOf<z.output<S>>;
  config: S;
  /**
   * False for nodes that gather many requests into one message (batch): a sync
   * caller could never get its own answer back, so sync edges into them are refused.
   */
  acceptsSync?: boolean;
  /** True for nodes whose inputs may each be fed by several sync edges (join). */
  joinsSync?: boolean;
  /**
   * Names of the sync entry points a node with this config registers (io.http's URL name), so
   * validate and deploy can refuse two nodes claiming one name without knowing any node type.
   */
  entrypoints?(config: z.output<S>, pipeline: string): readonly string[];
  /**
   * Capabilities this type needs; a deploy is refused unless the runtime grants them all. A
   * function when they depend on the config (transform.function needs `exec` only with `libs`).
   */
  capabilities?: readonly Capability[] | ((config: z.output<S>) => readonly Capability[]);
  /** Services `create` and the instance use: a runtime that lacks one refuses the pipeline at validate and deploy. */
  services?: readonly ServiceKey[];
  create(ctx: NodeContext, config: z.output<S>): NodeInstance | Promise<NodeInstance>;
}

/**
 * What a node module may export instead of its definitions when the set of types is known only
 * at load (a bridge to another ecosystem lists what is installed there): called once per load
 * with where the runtime looks for packages.
 */
export type NodeTypesAtLoad = (load: NodeLoadContext) => NodeDefinition[] | Promise<NodeDefinition[]>;

export interface NodeLoadContext {
  /** The runtime's data folder, when it has one (offline commands may load without). */
  dataDir?: string;
}

export function defineNode<S extends z.ZodType>(def: NodeDefinition<S>): NodeDefinition<S> {
  return def;
}

export function inputsOf(def: NodeDefinition, config: unknown): Ports {
  return typeof def.inputs === "function" ? def.inputs(config) : def.inputs;
}

export function outputsOf(def: NodeDefinition, config: unknown): Ports {
  return typeof def.outputs === "function" ? def.outputs(config) : def.outputs;
}

/** The capabilities a node with `config` needs (parsed; a function declaration sees its defaults when `config` does not parse). */
export function capabilitiesOf(def: NodeDefinition, config?: unknown): readonly Capability[] {
  if (typeof def.capabilities !== "function") return def.capabilities ?? [];
  const parsed = parseConfig(def, config);
  return parsed === undefined ? [] : def.capabilities(parsed);
}

/** The capabilities a node with `config` needs that `grants` lacks. */
export function missingCapabilities(def: NodeDefinition, grants: ReadonlySet<Capability>, config?: unknown): Capability[] {
  return capabilitiesOf(def, config).filter((c) => !grants.has(c));
}

/** The services a node type needs that `available` lacks. */
export function missingServices(def: NodeDefinition, available: ReadonlySet<string>): string[] {
  return (def.services ?? []).map((s) => s.name).filter((name) => !available.has(name));
}

/** Config with defaults applied, or undefined when it does not parse. */
export function parseConfig(def: NodeDefinition, config: unknown): unknown {
  const r = def.config.safeParse(config ?? {});
  return r.success ? r.data : undefined;
}
