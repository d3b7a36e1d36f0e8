/**
 * Where node packages are found, as Node-RED's registry finds its modules
 * (@node-red/registry/lib/localfilesystem.js): a package is a folder whose package.json has
 * the `evoflow` key. Looked for in
 * - the project's `node_modules` (the working folder's: where `npm install` puts them), top level
 *   and inside `@scope/` folders;
 * - the data folder's own install folder, `<data>/nodes/node_modules` (what the data folder's
 *   nodes/package.json lists: `npm install --prefix <data>/nodes <package>`);
 * - each `--nodes DIR`: a package itself, or a folder with a node_modules, or a folder of packages.
 * Folders without the key are skipped without a word: node_modules holds many other packages.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export type PackageSource = "builtin" | "project" | "data" | "dir";

export interface PackageFolder {
  dir: string;
  source: PackageSource;
}

export interface DiscoverOptions {
  /** The project whose node_modules is searched (default: none). */
  projectDir?: string;
  /** The runtime's data folder, whose `nodes/node_modules` is searched. */
  dataDir?: string;
  /** `--nodes` folders. */
  dirs?: readonly string[];
}

/** Folders are absolute, whatever the options: the loader checks a package's modules stay inside its folder. */
export function discoverPackageFolders(options: DiscoverOptions): PackageFolder[] {
  const found: PackageFolder[] = [];
  if (options.projectDir) found.push(...inNodeModules(path.resolve(options.projectDir, "node_modules"), "project"));
  if (options.dataDir) found.push(...inNodeModules(path.resolve(options.dataDir, "nodes", "node_modules"), "data"));
  for (const dir of options.dirs ?? []) found.push(...inNodesDir(path.resolve(dir)));
  return found;
}

/** True when `dir` holds a package.json with the `evoflow` key. A broken package.json counts: loading it reports why. */
export function isNodePackage(dir: string): boolean {
  const file = path.join(dir, "package.json");
  if (!existsSync(file)) return false;
  const text = readFileSync(file, "utf8");
  // Most of node_modules is other packages: a package.json never naming evoflow is not parsed.
  if (!text.includes('"evoflow"')) return false;
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    return typeof json === "object" && json !== null && "evoflow" in json;
  } catch {
    return true;
  }
}

function inNodesDir(dir: string): PackageFolder[] {
  if (!isFolder(dir)) throw new Error(`--nodes ${dir}: no such folder`);
  if (isNodePackage(dir)) return [{ dir, source: "dir" }];
  const nodeModules = path.join(dir, "node_modules");
  return inNodeModules(isFolder(nodeModules) ? nodeModules : dir, "dir");
}

function inNodeModules(dir: string, source: PackageSource): PackageFolder[] {
  if (!isFolder(dir)) return [];
  return subfolders(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name.startsWith("@")) return subfolders(full).map((n) => path.join(full, n)).filter(isNodePackage).map((d) => ({ dir: d, source }));
    return isNodePackage(full) ? [{ dir: full, source }] : [];
  });
}

function subfolders(dir: string): string[] {
  // Sorted, so which of two clashing packages is named first does not depend on the file system.
  return readdirSync(dir).filter((n) => !n.startsWith(".") && isFolder(path.join(dir, n))).sort();
}

function isFolder(p: string): boolean {
  // statSync follows links: `npm install <folder>` and `npm link` leave symlinks in node_modules.
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
