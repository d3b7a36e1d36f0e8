/**
 * A pipeline's `requires`: the node packages it uses, each with the npm version range it works
 * with (`{ "evoflow-nodes-acme": "^1.0.0" }`), read with `semver` as npm reads them. Validation
 * (the CLI, the validate and deploy APIs, a NATS worker) checks it against the packages loaded
 * here and names the command that fixes each problem. Evoflow's own package (nodes/) is not
 * listed by `fmt`: it ships with the runtime, whose pipeline format is `apiVersion`; a pipeline
 * that names it anyway has it checked like any package, and is told to update Evoflow.
 */
import semver from "semver";
import type { NodeTypes } from "./node-types";
import { namespaceOfName, type NodePackage } from "./packages/load";
import { requiresSchema } from "./schema";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The command that installs a version of `name` in `range`, quoted for a shell where the range needs it. */
export function installCommand(name: string, range: string): string {
  const spec = `${name}@${range.trim()}`;
  return `evoflow nodes install ${/^[A-Za-z0-9@/._^~-]+$/.test(spec) ? spec : `'${spec}'`}`;
}

/** The entries of `requires` that are well-formed (the schema reports the others). */
function entries(requires: unknown): [string, string][] {
  if (!isObject(requires)) return [];
  return Object.entries(requires).filter((e): e is [string, string] => requiresSchema.safeParse({ [e[0]]: e[1] }).success);
}

function installedPackage(types: NodeTypes, name: string): NodePackage | undefined {
  return types.packages.find((p) => p.name === name);
}

/** Why `pkg` (installed here) does not meet `range`, or undefined when it does. */
function mismatch(pkg: NodePackage, range: string): string | undefined {
  if (semver.satisfies(pkg.version, range)) return undefined;
  if (pkg.source === "builtin") return `Evoflow's own node package is at ${pkg.version} here, and the pipeline requires ${range}: update Evoflow`;
  return `package "${pkg.name}" is installed here at ${pkg.version}, and the pipeline requires ${range}: ${installCommand(pkg.name, range)}`;
}

const missing = (name: string, range: string) => `package "${name}" (${range}) is not installed here: ${installCommand(name, range)}`;

/** Each required package missing here or of a version out of its range, with why (reported at `$.requires[<package>]`). */
export function requirementProblems(requires: unknown, types: NodeTypes): { name: string; message: string }[] {
  return entries(requires).flatMap(([name, range]) => {
    const pkg = installedPackage(types, name);
    const message = pkg ? mismatch(pkg, range) : missing(name, range);
    return message ? [{ name, message }] : [];
  });
}

/**
 * What to say of a node type no loaded package gives, when `requires` explains it: the package
 * whose namespace it is in is required but missing (its namespace read from its npm name, as the
 * loader would), or installed at a version out of range. Undefined otherwise.
 */
export function unknownTypeMessage(type: string, requires: unknown, types: NodeTypes): string | undefined {
  const namespace = type.split(".")[0];
  for (const [name, range] of entries(requires)) {
    const pkg = installedPackage(types, name);
    if (!pkg && namespaceOfName(name) === namespace)
      return `node type "${type}" comes from package "${name}" (${range}), which is not installed here: ${installCommand(name, range)}`;
    const why = pkg?.namespaces.includes(namespace) ? mismatch(pkg, range) : undefined;
    if (why) return `unknown node type "${type}": ${why}`;
  }
  return undefined;
}

/** The hint for a type whose namespace no loaded package owns. */
export function unownedNamespaceHint(type: string, types: NodeTypes): string {
  const namespace = type.split(".")[0];
  const owned = types.packages.some((p) => p.namespaces.includes(namespace)) || types.list().some((d) => d.type.startsWith(`${namespace}.`));
  if (!type.includes(".") || owned) return "";
  return `; no node package installed here gives the namespace "${namespace}": install the one that does and list it in "requires" (evoflow fmt does)`;
}
