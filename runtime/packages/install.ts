/**
 * Installing and removing node packages in a data folder, with npm, as a user expects from
 * Node-RED's palette manager: `<data>/nodes/` is an npm project of its own (its package.json
 * lists what is installed, discovery reads its node_modules), so
 *
 *   npm install --prefix <data>/nodes <name[@range] | tarball | folder>
 *
 * is all an install is. A tarball or a folder installs with --offline: it needs no registry
 * unless it has dependencies npm's cache lacks. A folder is copied (--install-links), so the
 * data folder holds what runs rather than a link to a working copy. Being npm's folder, a
 * package copied into its node_modules by hand is pruned by the next install: install it instead.
 *
 * Then the package must load beside every other one (the SDK range, its namespace, each
 * definition: runtime/packages/load.ts); one that does not is removed again, and the reasons
 * are the error. npm's own output goes to `onOutput` as it comes, so its progress and errors
 * read as npm wrote them.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadNodePackages, NodePackageError, type LoadOptions, type NodePackage } from "./load";

export type InstallSource =
  | { kind: "registry"; spec: string; name: string }
  | { kind: "tarball"; path: string }
  | { kind: "folder"; path: string };

export interface ManageOptions extends Omit<LoadOptions, "dataDir"> {
  dataDir: string;
  /** npm's output (stdout and stderr) as it arrives. */
  onOutput?(text: string): void;
}

export interface InstallResult {
  package: NodePackage;
  /** The version it replaced, when it was installed already. */
  replaced?: string;
  /** The node types the install added: new to this runtime. */
  added: string[];
}

export class PackageManageError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length ? `${message}:\n${problems.map((p) => `  ${p}`).join("\n")}` : message);
  }
}

// npm's rules for a package name (validate-npm-package-name, for new packages), and the
// characters of a semver range or dist-tag: no URL, git or file spec passes as a name.
const NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const RANGE = /^[\w.^~<>=|*+ -]+$/;

/** `name`, `name@range` or `@scope/name@range` as npm reads it, or why it is not one. */
export function parseRegistrySpec(spec: string): { name: string; range?: string } | string {
  const at = spec.indexOf("@", 1);
  const name = at === -1 ? spec : spec.slice(0, at);
  const range = at === -1 ? undefined : spec.slice(at + 1);
  if (name.length > 214 || !NAME.test(name)) return `"${name}" is not an npm package name (lower case, digits, - . _ ~, optionally @scope/)`;
  if (range !== undefined && (range.length === 0 || range.length > 100 || !RANGE.test(range))) return `"${range}" is not a version, range or tag`;
  return { name, ...(range !== undefined && { range }) };
}

/**
 * What the CLI's argument names, read as npm reads it: a path (starting with . / or ~, holding a
 * slash that is not @scope/'s, or ending in .tgz) is a tarball or folder; anything else a registry name.
 */
export function sourceOf(arg: string, cwd = process.cwd()): InstallSource {
  const isPath = /^[.~/]/.test(arg) || /\.t(ar\.)?gz$/.test(arg) || (/[/\\]/.test(arg) && !arg.startsWith("@"));
  if (isPath) {
    const full = path.resolve(cwd, arg.replace(/^~(?=$|\/)/, process.env.HOME ?? "~"));
    const stat = statSync(full, { throwIfNoEntry: false });
    if (stat?.isDirectory()) return { kind: "folder", path: full };
    if (stat?.isFile()) return { kind: "tarball", path: full };
    throw new PackageManageError(`${arg}: no such file or folder`);
  }
  const parsed = parseRegistrySpec(arg);
  if (typeof parsed === "string") throw new PackageManageError(parsed);
  return { kind: "registry", spec: arg, name: parsed.name };
}

export const nodesFolder = (dataDir: string) => path.join(path.resolve(dataDir), "nodes");

/** The packages `<data>/nodes/package.json` lists, by name, with the spec npm saved. */
export function installedSpecs(dataDir: string): Record<string, string> {
  const file = path.join(nodesFolder(dataDir), "package.json");
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {};
}

function ensureNodesFolder(dataDir: string): string {
  const dir = nodesFolder(dataDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "package.json");
  if (!existsSync(file))
    writeFileSync(file, `${JSON.stringify({ name: "evoflow-installed-nodes", private: true, description: "Node packages installed with `evoflow nodes install`", dependencies: {} }, null, 2)}\n`);
  return dir;
}

/** The name in a tarball's package.json (npm pack puts it under package/; others under their own top folder). */
function tarballName(file: string): string {
  const list = spawnSync("tar", ["-tzf", file], { encoding: "utf8" });
  const entry = list.status === 0 ? list.stdout.split("\n").find((l) => /^[^/]+\/package\.json$/.test(l)) : undefined;
  if (!entry) throw new PackageManageError(`${file} is not a package tarball (no package.json at its top): make one with npm pack`);
  const json = spawnSync("tar", ["-xzOf", file, entry], { encoding: "utf8" });
  return nameIn(json.stdout, `${file}!${entry}`);
}

function nameIn(text: string, where: string): string {
  let name: unknown;
  try {
    name = (JSON.parse(text) as { name?: unknown }).name;
  } catch (err) {
    throw new PackageManageError(`${where}: not JSON: ${(err as Error).message}`);
  }
  if (typeof name !== "string" || !NAME.test(name)) throw new PackageManageError(`${where}: "name" must be an npm package name`);
  return name;
}

function packageName(source: InstallSource): string {
  if (source.kind === "registry") return source.name;
  if (source.kind === "tarball") return tarballName(source.path);
  const file = path.join(source.path, "package.json");
  if (!existsSync(file)) throw new PackageManageError(`${source.path} is not a package: it has no package.json`);
  return nameIn(readFileSync(file, "utf8"), file);
}

/** Runs npm in the nodes folder; rejects with its last lines when it fails. */
function npm(args: string[], dir: string, onOutput?: (text: string) => void): Promise<string> {
  const full = [...args, "--prefix", dir, "--no-audit", "--no-fund", "--no-update-notifier"];
  return new Promise((resolve, reject) => {
    // The folder's own cwd: npm reads no project config of whatever folder the runtime was started in.
    const child = spawn("npm", full, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_progress: "true" } });
    let output = "";
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      onOutput?.(chunk.toString());
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.once("error", (err) => reject(new PackageManageError(`cannot run npm: ${err.message}`)));
    child.once("close", (code) => {
      if (code === 0) return resolve(output);
      reject(new PackageManageError(`npm ${args.join(" ")} failed (exit ${code})`, npmErrorSummary(output)));
    });
  });
}

/** npm's error lines that say what went wrong, without its stack traces, object dumps and log-file notes. */
export function npmErrorSummary(output: string): string[] {
  const lines = output
    .split("\n")
    .filter((l) => l.startsWith("npm error ") || l.startsWith("npm ERR! "))
    .map((l) => l.replace(/^npm (error|ERR!) /, ""))
    .filter((l) => l.trim() !== "" && !/^\s/.test(l) && !/^[{}]/.test(l) && !/^(A complete log|syscall|errno) /.test(l));
  return lines.length ? lines.slice(0, 6) : output.trim().split("\n").slice(-6);
}

async function loadAll(options: ManageOptions) {
  const { onOutput: _, ...load } = options;
  return loadNodePackages(load);
}

/** Installs a package into `<data>/nodes`, checks that it loads, and removes it again when it does not. */
export async function installNodePackage(source: InstallSource, options: ManageOptions): Promise<InstallResult> {
  const name = packageName(source);
  const dir = ensureNodesFolder(options.dataDir);
  const before = await loadAll(options).catch(() => undefined);
  const knownTypes = new Set(before?.definitions.map((d) => d.type) ?? []);
  const replaced = before?.packages.find((p) => p.name === name && p.source === "data")?.version;
  const saved = { json: readFileSync(path.join(dir, "package.json"), "utf8"), lock: readIfThere(path.join(dir, "package-lock.json")) };
  const target = source.kind === "registry" ? source.spec : source.path;
  const offline = source.kind === "registry" ? [] : ["--offline"];
  await npm(["install", "--save", ...offline, ...(source.kind === "folder" ? ["--install-links"] : []), target], dir, options.onOutput);

  const installedDir = path.join(dir, "node_modules", ...name.split("/"));
  const problems = await loadProblems(options, name, installedDir, knownTypes);
  if (problems.problems.length) {
    await rollBack(name, dir, saved, replaced !== undefined, options.onOutput);
    throw new PackageManageError(`${name} was installed but does not load, so it was removed again${replaced ? ` (${replaced} is back)` : ""}`, problems.problems);
  }
  const pkg = problems.loaded!;
  return { package: pkg, ...(replaced && { replaced }), added: pkg.types.filter((t) => !knownTypes.has(t)) };
}

/** Why the freshly installed package does not load beside the others (only its own problems: others' are not its fault). */
async function loadProblems(options: ManageOptions, name: string, installedDir: string, knownTypes: ReadonlySet<string>): Promise<{ problems: string[]; loaded?: NodePackage }> {
  try {
    const { packages, definitions } = await loadAll(options);
    const loaded = packages.find((p) => p.dir === installedDir) ?? nodeRedPackage(installedDir, definitions.map((d) => d.type).filter((t) => !knownTypes.has(t)));
    if (!loaded) return { problems: [`${name} is neither an Evoflow node package nor a Node-RED one: its package.json has no "evoflow" key (e.g. "evoflow": { "sdk": "^1", "nodes": ["./index.js"] }) and no "node-red" one`] };
    return { problems: [], loaded };
  } catch (err) {
    if (!(err instanceof NodePackageError)) throw err;
    const own = err.problems.filter((p) => p.includes(`"${name}"`) || p.includes(installedDir));
    // Only other packages fail: not this one's doing, so it stays, and the others are named.
    if (!own.length) throw new PackageManageError(`${name} is installed, but other node packages do not load, so no runtime starts until they are fixed or uninstalled`, err.problems);
    return { problems: own };
  }
}

/**
 * A Node-RED package (a `"node-red": { "nodes": … }` key) installed here: Evoflow's built-in
 * package hosts its types (`node-red.<type>`, nodes/node-red/), so it is described by them; one
 * giving no type to host is not a package that loads.
 */
function nodeRedPackage(dir: string, added: string[]): NodePackage | undefined {
  const json = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string; version?: string; "node-red"?: unknown };
  const types = added.filter((t) => t.startsWith("node-red.")).sort();
  if (!json["node-red"] || !types.length) return undefined;
  return { name: json.name, version: json.version ?? "0.0.0", dir, source: "data", sdk: "", namespaces: ["node-red"], types, services: [], routes: [], commands: {} };
}

function readIfThere(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

async function rollBack(name: string, dir: string, saved: { json: string; lock?: string }, hadIt: boolean, onOutput?: (text: string) => void) {
  if (!hadIt) {
    await npm(["uninstall", "--offline", name], dir, onOutput);
    return;
  }
  // An upgrade that fails puts the previous version back: its spec is in the saved package.json, its files in npm's cache.
  writeFileSync(path.join(dir, "package.json"), saved.json);
  if (saved.lock !== undefined) writeFileSync(path.join(dir, "package-lock.json"), saved.lock);
  await npm(["install", "--offline"], dir, onOutput);
}

/** Removes a package installed in `<data>/nodes`; returns what it gave. */
export async function uninstallNodePackage(name: string, options: ManageOptions): Promise<NodePackage | undefined> {
  const parsed = parseRegistrySpec(name);
  if (typeof parsed === "string" || parsed.range !== undefined) throw new PackageManageError(`${name}: give the package's name only`);
  const specs = installedSpecs(options.dataDir);
  if (!(name in specs)) {
    const listed = Object.keys(specs);
    throw new PackageManageError(
      `${name} is not installed in ${nodesFolder(options.dataDir)}${listed.length ? ` (installed there: ${listed.join(", ")})` : " (nothing is)"}: packages in node_modules or --nodes folders are removed where they are`,
    );
  }
  const dir = nodesFolder(options.dataDir);
  const installedDir = path.join(dir, "node_modules", ...name.split("/"));
  const gave = await loadAll(options).then((r) => r.packages.find((p) => p.dir === installedDir), () => undefined);
  await npm(["uninstall", "--offline", name], dir, options.onOutput);
  return gave;
}
