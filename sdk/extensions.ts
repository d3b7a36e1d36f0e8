/**
 * What a node package may add to a runtime besides node types, each module named in its
 * package.json `evoflow` key (runtime/packages/load.ts) with one of these as its default export:
 *
 *   "evoflow": { "services": ["./dist/services.js"], "routes": ["./dist/api.js"], "commands": { "acme": "./dist/cli.js" } }
 *
 * Evoflow's own CL history routes, rollouts service and `evoflow drift`, `history` and `card` come this way.
 */
import type { Command } from "commander";
import type { FastifyInstance } from "fastify";
import type { Trace } from "./api-types";
import type { Message } from "./envelope";
import type { DriftAlarm } from "./api-types";
import type { ModelRegistry } from "./registry";
import type { ServiceKey } from "./services";

/** `"services"`: called once per runtime process; returns services by name (the `defineService` names). */
export type ProvideServices = (options: { dataDir: string }) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** What a package's routes see of a pipeline deployed in this process. */
export interface PipelineView {
  edges: readonly { id: string; from: { node: string; port: string }; to: { node: string; port: string }; mode: "sync" | "async" }[];
  /** The last `limit` messages the edge carried (its tap ring), oldest first. */
  edgeMessages(edge: string, limit?: number): Message[];
  /**
   * Writes a message no node of the pipeline made (an explanation asked for on demand) to the
   * pipeline's stream `stream` (EXPLANATIONS_STREAM): kept in its provenance with the trace its
   * `traceId` names, in that stream's tap, and on a distributed transport in the pipeline's
   * stream for every process. Resolves once stored.
   */
  publish(stream: string, message: Message): Promise<void>;
}

/** What a package's routes see of the runtime. */
export interface RouteHost {
  /** The runtime's data folder. */
  dataDir: string;
  /** A shared service, or undefined when this runtime has none of that name. */
  service<T>(key: ServiceKey<T>): T | undefined;
  /** Whether a pipeline of that name is deployed here. */
  hasPipeline(name: string): boolean;
  /** A deployed pipeline, or undefined. */
  pipeline(name: string): PipelineView | undefined;
  /** A trace as `GET /api/traces/:traceId` answers it (every process's messages on a distributed transport), or undefined. */
  trace(traceId: string): Promise<Trace | undefined>;
  /** A drift alarm of a pipeline deployed here, with its upstream windows (runtime/alarm-windows.ts); undefined when not kept. */
  alarm(id: string): DriftAlarm | undefined;
}

/** `"routes"`: registered after the runtime's own, behind the same access checks (token and role, Host, Origin). */
export type RegisterRoutes = (app: FastifyInstance, host: RouteHost) => void | Promise<void>;

/** What a package's commands get from the `evoflow` CLI, so they work as its own commands do. */
export interface CommandHost {
  /** The registry a location names (a folder, nats://…, mongodb://…), as `evoflow model --registry` opens it. */
  openRegistry(location: string): Promise<ModelRegistry>;
  /** The Authorization header for a running runtime's API: --token, EVOFLOW_TOKEN or the data folder's token file. */
  authHeaders(opts: { token?: string; data?: string }): Record<string, string>;
  /** Left-aligned text columns, as the CLI prints its tables. */
  formatTable(header: string[], rows: string[][]): string;
  /**
   * The messages an edge of a pipeline deployed on NATS carried, oldest first, as its JetStream
   * stream keeps them (`evoflow tap --nats` reads the same), with when the server stored each;
   * it ends at the stream's end as it was when called.
   */
  readRecordedEdge(options: { nats: string; pipeline: string; edge: string }): AsyncIterable<RecordedMessage>;
}

/** A message read back from a pipeline's stream. */
export interface RecordedMessage {
  /** Its stream sequence. */
  seq: number;
  /** When the server stored it. */
  time: Date;
  message: Message;
}

/** `"commands"`: adds the subcommand of that name to `evoflow`. */
export type RegisterCommand = (program: Command, host: CommandHost) => void;
