/**
 * Makes `import ... from "evoflow/sdk"` in a node package resolve to the running runtime's own
 * SDK module. A package in the data folder or a `--nodes` folder has no `evoflow` in any
 * node_modules above it, and one that did would get a second SDK instance (another NodeError
 * class, another sdkVersion). So a module-resolution hook (node:module `register`) answers that
 * one specifier, whatever the importer; registered once, when the first package outside the
 * runtime's own tree is loaded, since the hook runs on a loader thread of its own.
 */
import { register } from "node:module";
import { pathToFileURL } from "node:url";
import { SDK_MODULE } from "../paths";

const HOOK = `
let sdk;
export async function initialize(data) { sdk = data.sdk; }
export async function resolve(specifier, context, next) {
  if (specifier === "evoflow/sdk") return { url: sdk, shortCircuit: true };
  return next(specifier, context);
}`;

let registered = false;

export function resolveSdkForPackages(): void {
  if (registered) return;
  registered = true;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { sdk: pathToFileURL(SDK_MODULE).href } });
}
