/**
 * Loads what node packages add besides node types (sdk/extensions.ts): shared services, HTTP
 * routes and CLI subcommands. Commands are found from the package.json files alone (the
 * built-in package's and the project's node_modules'), so `evoflow <command>` loads no node
 * package unless the command is a package's, and then only that module.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import type { FastifyInstance } from "fastify";
import type { CommandHost, ProvideServices, RegisterCommand, RegisterRoutes, RouteHost } from "../../sdk/extensions";
import { BUILTIN_NODES_DIR } from "../paths";
import { discoverPackageFolders } from "./discover";
import { extensionModules, type NodePackage } from "./load";
import { resolveSdkForPackages } from "./sdk-hook";

async function defaultExport<T>(file: string, builtin: boolean): Promise<T> {
  if (!builtin) resolveSdkForPackages();
  const exported = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  if (typeof exported !== "function") throw new Error(`${file}: its default export must be a function (sdk/extensions.ts)`);
  return exported as T;
}

/** The services every loaded package gives, merged; two packages giving one name is an error naming both. */
export async function packageServices(packages: readonly NodePackage[], options: { dataDir: string }): Promise<Record<string, unknown>> {
  const services: Record<string, unknown> = {};
  const giver = new Map<string, string>();
  for (const pkg of packages)
    for (const file of pkg.services) {
      const given = await (await defaultExport<ProvideServices>(file, pkg.source === "builtin"))(options);
      for (const [name, service] of Object.entries(given)) {
        if (giver.has(name)) throw new Error(`packages "${giver.get(name)}" and "${pkg.name}" both give the service "${name}"`);
        giver.set(name, pkg.name);
        services[name] = service;
      }
    }
  return services;
}

export async function registerPackageRoutes(app: FastifyInstance, packages: readonly NodePackage[], host: RouteHost): Promise<void> {
  for (const pkg of packages) for (const file of pkg.routes) await (await defaultExport<RegisterRoutes>(file, pkg.source === "builtin"))(app, host);
}

export type CommandFile = () => Promise<{ register(program: Command): void }>;

/** Subcommands the built-in package and the project's packages give, by name (the first to name one keeps it); `host` is loaded when one runs. */
export function packageCommandFiles(host: () => Promise<CommandHost>, projectDir = process.cwd()): Record<string, CommandFile> {
  const files: Record<string, CommandFile> = {};
  const byModule = new Map<string, CommandFile>();
  for (const { dir, source } of [{ dir: BUILTIN_NODES_DIR, source: "builtin" }, ...discoverPackageFolders({ projectDir })]) {
    let declared: Record<string, unknown>;
    try {
      declared = (JSON.parse(readFileSync(`${dir}/package.json`, "utf8")) as { evoflow: Record<string, unknown> }).evoflow;
    } catch {
      continue; // a broken package is reported by the commands that load packages
    }
    const modules = extensionModules(dir, declared);
    if (typeof modules === "string") continue;
    for (const [name, file] of Object.entries(modules.commands)) {
      // One loader per module, so a module giving several commands registers them once.
      if (!byModule.has(file))
        byModule.set(file, async () => {
          const [register, commandHost] = await Promise.all([defaultExport<RegisterCommand>(file, source === "builtin"), host()]);
          return { register: (program: Command) => register(program, commandHost) };
        });
      files[name] ??= byModule.get(file)!;
    }
  }
  return files;
}
