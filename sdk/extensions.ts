/**
 * What a node package may add to a runtime besides node types, each module named in its
 * package.json `evoflow` key (runtime/packages/load.ts) with one of these as its default export:
 *
 *   "evoflow": { "services": ["./dist/services.js"], "routes": ["./dist/api.js"], "commands": { "acme": "./dist/cli.js" } }
 *
 * Evoflow's own CL service history routes, rollouts service and `evoflow drift` come this way.
 */
import type { Command } from "commander";
import type { FastifyInstance } from "fastify";
import type { ServiceKey } from "./services";

/** `"services"`: called once per runtime process; returns services by name (the `defineService` names). */
export type ProvideServices = (options: { dataDir: string }) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** What a package's routes see of the runtime. */
export interface RouteHost {
  /** The runtime's data folder. */
  dataDir: string;
  /** A shared service, or undefined when this runtime has none of that name. */
  service<T>(key: ServiceKey<T>): T | undefined;
  /** Whether a pipeline of that name is deployed here. */
  hasPipeline(name: string): boolean;
}

/** `"routes"`: registered after the runtime's own, behind the same access checks (token and role, Host, Origin). */
export type RegisterRoutes = (app: FastifyInstance, host: RouteHost) => void | Promise<void>;

/** `"commands"`: adds the subcommand of that name to `evoflow`. */
export type RegisterCommand = (program: Command) => void;
