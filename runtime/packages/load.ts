/**
 * Loading node packages (DESIGN.md "Node packages"). A node package's package.json says
 *
 *   "evoflow": { "sdk": "^1", "nodes": ["./index.js"], "namespace": "acme" }
 *
 * `nodes` lists modules whose default export is a node definition (`defineNode`), an array of
 * them, or a function of the load giving them (NodeTypesAtLoad, SDK 1.5); `sdk` is the SDK
 * range it was built for (sdk-range.ts). A package may also give the
 * runtime shared services (`"services": [module]`, default export `ProvideServices`), HTTP
 * routes (`"routes": [module]`, `RegisterRoutes`) and CLI subcommands (`"commands": { name:
 * module }`, `RegisterCommand`): sdk/extensions.ts; runtime/packages/extensions.ts loads them. Evoflow's own nodes are such a
 * package (nodes/package.json) and load through here like any other.
 *
 * Namespaces, one rule for every package: a type is named `<namespace>.<name>`, its namespace one
 * the package owns. A package owns what `evoflow.namespace` says (a name or a list of names), else
 * the one its npm name gives: `@acme/anything` and `evoflow-nodes-acme` both own `acme`. The
 * loader renames nothing, so a type reads the same in its declaration, its docs and pipelines
 * (`acme.scale`); the built-in package owns `io`, `transform`, … and so keeps `io.http`. Two
 * packages owning one namespace (also: one package installed twice) is an error naming both.
 * Every problem of every package is reported at once and nothing is loaded then.
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { NodeDefinition, NodeLoadContext, NodeTypesAtLoad } from "../../sdk/contract";
import { sdkVersion } from "../../sdk";
import { BUILTIN_NODES_DIR } from "../paths";
import { discoverPackageFolders, type DiscoverOptions, type PackageFolder, type PackageSource } from "./discover";
import { sdkRangeProblem } from "./sdk-range";
import { resolveSdkForPackages } from "./sdk-hook";

export interface NodePackage {
  name: string;
  version: string;
  dir: string;
  source: PackageSource;
  /** The SDK range it was built for. */
  sdk: string;
  namespaces: string[];
  /** The node types it gives, sorted. */
  types: string[];
  /** Modules giving shared services, HTTP routes (absolute paths), and CLI subcommands by name. */
  services: string[];
  routes: string[];
  commands: Record<string, string>;
}

export interface LoadOptions extends DiscoverOptions {
  /** Evoflow's own package (default: the one beside this runtime); false for none. */
  builtin?: string | false;
}

export class NodePackageError extends Error {
  constructor(readonly problems: string[]) {
    super(`node packages could not load:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

const NAMESPACE = /^[a-z][a-z0-9-]*$/;

export async function loadNodePackages(options: LoadOptions = {}): Promise<{ packages: NodePackage[]; definitions: NodeDefinition[] }> {
  const builtin = options.builtin ?? BUILTIN_NODES_DIR;
  const folders: PackageFolder[] = [...(builtin ? [{ dir: builtin, source: "builtin" as const }] : []), ...discoverPackageFolders(options)];
  const problems: string[] = [];
  const loaded: { pkg: NodePackage; definitions: NodeDefinition[] }[] = [];
  // All at once: each import is a round trip to the module loader (and its resolve hook's thread);
  // the results are taken in discovery order, so problems and clashes read the same every time.
  const results = await Promise.all(folders.map((folder) => loadPackage(folder, { dataDir: options.dataDir }).catch((err: Error) => ({ problems: [err.message] }))));
  for (const result of results) {
    if ("problems" in result) problems.push(...result.problems);
    else loaded.push(result);
  }
  problems.push(...namespaceClashes(loaded.map((l) => l.pkg)));
  if (problems.length) throw new NodePackageError(problems);
  return { packages: loaded.map((l) => l.pkg), definitions: loaded.flatMap((l) => l.definitions) };
}

type Loaded = { pkg: NodePackage; definitions: NodeDefinition[] } | { problems: string[] };

async function loadPackage({ dir, source }: PackageFolder, load: NodeLoadContext): Promise<Loaded> {
  const json = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as Record<string, unknown>;
  const name = typeof json.name === "string" ? json.name : path.basename(dir);
  const label = `package "${name}" (${dir})`;
  const declared = json.evoflow as Record<string, unknown> | undefined;
  if (typeof declared !== "object" || declared === null) return { problems: [`${label}: "evoflow" in its package.json must be an object`] };
  const problems: string[] = [];
  const sdk = declared.sdk;
  if (typeof sdk !== "string") problems.push(`${label}: its package.json must say which evoflow SDK it is built for, e.g. "evoflow": { "sdk": "^${sdkVersion.split(".")[0]}" }`);
  else {
    const problem = sdkRangeProblem(sdk, sdkVersion);
    if (problem) problems.push(`${label}: ${problem}`);
  }
  const namespaces = namespacesOf(name, declared.namespace);
  if (typeof namespaces === "string") problems.push(`${label}: ${namespaces}`);
  const modules = declared.nodes;
  if (!Array.isArray(modules) || modules.length === 0 || !modules.every((m) => typeof m === "string"))
    problems.push(`${label}: "evoflow.nodes" must list its node modules, e.g. ["./dist/index.js"]`);
  const extensions = extensionModules(dir, declared);
  if (typeof extensions === "string") problems.push(`${label}: ${extensions}`);
  // An SDK mismatch refuses the package before any of its code runs.
  if (problems.length) return { problems };
  if (source !== "builtin") resolveSdkForPackages();

  const definitions: NodeDefinition[] = [];
  for (const module of modules as string[]) {
    const file = path.resolve(dir, module);
    if (!file.startsWith(dir + path.sep)) {
      problems.push(`${label}: module "${module}" is outside the package`);
      continue;
    }
    let exported: unknown;
    try {
      // A package reinstalled at the same folder is a new module: the import cache is keyed by URL.
      const url = pathToFileURL(file).href + (source === "builtin" ? "" : `?v=${statSync(file).mtimeMs}`);
      exported = ((await import(url)) as { default?: unknown }).default;
      if (typeof exported === "function") exported = await (exported as NodeTypesAtLoad)(load);
    } catch (err) {
      problems.push(`${label}: module "${module}" does not load: ${(err as Error).message}`);
      continue;
    }
    const list = Array.isArray(exported) ? exported : [exported];
    list.forEach((def, i) => {
      const problem = definitionProblem(def, namespaces as string[]);
      if (problem) problems.push(`${label}: module "${module}"${Array.isArray(exported) ? ` [${i}]` : ""}: ${problem}`);
      else definitions.push(def as NodeDefinition);
    });
  }
  const types = definitions.map((d) => d.type).sort();
  for (const [i, type] of types.entries()) if (type === types[i - 1]) problems.push(`${label}: node type "${type}" is declared twice`);
  if (problems.length) return { problems };
  const version = typeof json.version === "string" ? json.version : "0.0.0";
  const { services, routes, commands } = extensions as Exclude<typeof extensions, string>;
  return { pkg: { name, version, dir, source, sdk: sdk as string, namespaces: namespaces as string[], types, services, routes, commands }, definitions };
}

/** The package's service, route and command modules as absolute paths inside it, or what is wrong with them. */
export function extensionModules(dir: string, declared: Record<string, unknown>): Pick<NodePackage, "services" | "routes" | "commands"> | string {
  const inside = (module: unknown, key: string): string => {
    if (typeof module !== "string") throw new Error(`"evoflow.${key}" must name modules, e.g. "./dist/${key}.js"`);
    const file = path.resolve(dir, module);
    if (!file.startsWith(dir + path.sep)) throw new Error(`"evoflow.${key}": module "${module}" is outside the package`);
    return file;
  };
  const list = (key: string) => {
    const value = declared[key] ?? [];
    if (!Array.isArray(value)) throw new Error(`"evoflow.${key}" must be a list of modules`);
    return value.map((m) => inside(m, key));
  };
  try {
    const commands = declared.commands ?? {};
    if (typeof commands !== "object" || commands === null || Array.isArray(commands)) throw new Error(`"evoflow.commands" must map command names to modules, e.g. { "acme": "./dist/cli.js" }`);
    return {
      services: list("services"),
      routes: list("routes"),
      commands: Object.fromEntries(Object.entries(commands).map(([name, m]) => [name, inside(m, "commands")])),
    };
  } catch (err) {
    return (err as Error).message;
  }
}

/** The namespaces a package owns, or why it has none. */
function namespacesOf(name: string, declared: unknown): string[] | string {
  if (declared !== undefined) {
    const list = Array.isArray(declared) ? declared : [declared];
    if (list.length === 0 || !list.every((n) => typeof n === "string" && NAMESPACE.test(n)))
      return `"evoflow.namespace" must be a name (lower case letters, digits, -) or a list of them, not ${JSON.stringify(declared)}`;
    return list as string[];
  }
  const fromName = namespaceOfName(name);
  if (fromName) return [fromName];
  return `its name gives no namespace (only @scope/… and evoflow-nodes-<namespace> do): declare one, e.g. "evoflow": { "namespace": "${name.replace(/^@[^/]+\//, "").split(/[^a-z0-9]/i)[0].toLowerCase() || "acme"}" }`;
}

/** The namespace a package's npm name gives (`@acme/…`, `evoflow-nodes-acme`: `acme`), if any. */
export function namespaceOfName(name: string): string | undefined {
  const fromName = /^@([a-z0-9-]+)\//.exec(name)?.[1] ?? /^evoflow-nodes-([a-z0-9-]+)$/.exec(name)?.[1];
  return fromName && NAMESPACE.test(fromName) ? fromName : undefined;
}

/** Why an export is not a node definition this package may give, or undefined. */
function definitionProblem(def: unknown, namespaces: string[]): string | undefined {
  if (typeof def !== "object" || def === null) return "the default export must be a node definition (defineNode) or an array of them";
  const d = def as Partial<NodeDefinition>;
  if (typeof d.type !== "string") return "a node definition needs a \"type\" name";
  const missing = (["title", "create", "config", "inputs", "outputs"] as const).filter((k) => d[k] === undefined);
  if (missing.length) return `node type "${d.type}" lacks ${missing.join(", ")} (is it made with defineNode?)`;
  const look = lookProblem(d);
  if (look) return `node type "${d.type}": ${look}`;
  const namespace = d.type.split(".")[0];
  if (!d.type.includes(".") || !namespaces.includes(namespace))
    return `node type "${d.type}" is not in the package's namespace${namespaces.length > 1 ? "s" : ""} ${namespaces.map((n) => `"${n}"`).join(", ")}: name it "${namespaces[0]}.${d.type.split(".").at(-1)}"`;
  return undefined;
}

const CATEGORY = /^[a-z][a-z0-9 -]{0,31}$/;
const COLOR = /^#[0-9a-f]{6}$/i;

/** Categories are open (a package may name its own), but shown in the palette: so short, lower case. */
function lookProblem(d: Partial<NodeDefinition>): string | undefined {
  if (typeof d.category !== "string" || !CATEGORY.test(d.category))
    return `category ${JSON.stringify(d.category)} must be a short lower-case name (letters, digits, space, -; up to 32), e.g. "transform" or "imaging"`;
  if (d.color !== undefined && (typeof d.color !== "string" || !COLOR.test(d.color))) return `color ${JSON.stringify(d.color)} must be a CSS colour "#rrggbb"`;
  if (d.icon !== undefined && (typeof d.icon !== "string" || d.icon.trim() === "" || [...d.icon].length > 3))
    return `icon ${JSON.stringify(d.icon)} must be a short mark: an emoji or up to 3 letters`;
  return undefined;
}

function namespaceClashes(packages: NodePackage[]): string[] {
  const owner = new Map<string, NodePackage>();
  const problems: string[] = [];
  for (const pkg of packages)
    for (const ns of pkg.namespaces) {
      const first = owner.get(ns);
      if (!first) {
        owner.set(ns, pkg);
        continue;
      }
      const both = pkg.types.filter((t) => first.types.includes(t));
      problems.push(
        `packages "${first.name}" (${first.dir}) and "${pkg.name}" (${pkg.dir}) both give the namespace "${ns}"` +
          `${both.length ? ` (both declare ${both.join(", ")})` : ""}: uninstall one of them`,
      );
    }
  return problems;
}
