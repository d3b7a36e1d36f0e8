/**
 * The Node-RED node types installed here, read as Node-RED's editor reads them: each type's
 * `RED.nodes.registerType(type, { defaults, credentials, inputs, outputs, … })` call in its
 * HTML file. Where the files are is what Node-RED's registry scans
 * (@node-red/registry/lib/localfilesystem.js): the core nodes' folder of `@node-red/nodes`, and
 * packages with a `"node-red": { "nodes": { name: file } }` key in a node_modules folder.
 *
 * The editor scripts run in a bare VM context whose `RED`, `$` and `document` answer anything
 * with a do-nothing stand-in: only the values of the registerType call are kept (functions
 * dropped), never run in the runtime.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import vm from "node:vm";

export interface NodeRedProperty {
  /** The default value (JSON); absent for a reference to a config node. */
  value?: unknown;
  /** The config node type this property refers to (e.g. `mqtt-broker`). */
  type?: string;
  required?: boolean;
}

export interface NodeRedType {
  /** Node-RED's name for it (`mqtt in`). */
  type: string;
  /** The npm package giving it. */
  module: string;
  /** Node-RED's palette category; `config` for config nodes. */
  category: string;
  color?: string;
  inputs: number;
  outputs: number;
  defaults: Record<string, NodeRedProperty>;
  /** Credential names (`user`, `password`) and whether each is a password. */
  credentials: Record<string, { password: boolean }>;
  /** The first paragraph of its help text. */
  help: string;
}

const require = createRequire(import.meta.url);
/** The core nodes' folder, as Node-RED's own red.js finds it. */
export const CORE_NODES_DIR = path.dirname(require.resolve("@node-red/nodes"));

/** Core types that make no sense as one node of a pipeline: flow structure, editor-only, or wired by the bridge itself. */
const NOT_HOSTED = new Set(["tab", "subflow", "junction", "comment", "unknown", "link in", "link out", "link call", "catch", "status", "complete", "global-config", "group"]);

/** Every installed Node-RED type: the core nodes, then packages in `nodeModulesDirs`. */
export function nodeRedTypes(nodeModulesDirs: readonly string[] = []): NodeRedType[] {
  const found = new Map<string, NodeRedType>();
  const add = (types: NodeRedType[]) => types.forEach((t) => !NOT_HOSTED.has(t.type) && !found.has(t.type) && found.set(t.type, t));
  for (const file of htmlFiles(CORE_NODES_DIR)) {
    const locale = path.join(CORE_NODES_DIR, "locales", "en-US", path.relative(path.join(CORE_NODES_DIR, "core"), file));
    add(typesInHtml(readFileSync(file, "utf8"), "@node-red/nodes", existsSync(locale) ? readFileSync(locale, "utf8") : ""));
  }
  for (const dir of nodeModulesDirs) for (const pkg of nodeRedPackages(dir)) for (const file of pkg.files) add(typesInHtml(readFileSync(file, "utf8"), pkg.name, ""));
  return [...found.values()];
}

/** Packages in a node_modules folder with a `node-red` key, and their nodes' HTML files. */
export function nodeRedPackages(nodeModules: string): { name: string; dir: string; files: string[] }[] {
  if (!existsSync(nodeModules)) return [];
  const folders = readdirSync(nodeModules).flatMap((n) => (n.startsWith("@") ? readdirSync(path.join(nodeModules, n)).map((m) => path.join(nodeModules, n, m)) : [path.join(nodeModules, n)]));
  return folders.flatMap((dir) => {
    const file = path.join(dir, "package.json");
    if (!existsSync(file)) return [];
    const json = JSON.parse(readFileSync(file, "utf8")) as { name?: string; "node-red"?: { nodes?: Record<string, string> } };
    const nodes = json["node-red"]?.nodes;
    if (!nodes || !json.name) return [];
    const files = Object.values(nodes).map((js) => path.join(dir, js.replace(/\.c?js$/, ".html"))).filter((f) => f.startsWith(dir + path.sep) && existsSync(f));
    return [{ name: json.name, dir, files }];
  });
}

function htmlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return /^(\..*|lib|icons|node_modules|test|locales)$/.test(name) ? [] : htmlFiles(full);
      return name.endsWith(".html") ? [full] : [];
    });
}

/** A stand-in for whatever an editor script touches at its top level: callable, constructible, indexable. */
const anything: object = new Proxy(function () {}, {
  get: (_t, key) => (key === Symbol.toPrimitive ? () => "" : anything),
  apply: () => anything,
  construct: () => anything,
});

/** JSON values only: the editor's functions (validators, labels) have no meaning here. */
function plain(value: unknown): unknown {
  if (value === null || ["string", "number", "boolean"].includes(typeof value)) return value;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && !(value instanceof Function)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]).filter(([, v]) => v !== undefined));
  return undefined;
}

function typesInHtml(html: string, module: string, localeHtml: string): NodeRedType[] {
  const types: NodeRedType[] = [];
  const registerType = (type: string, def: Record<string, unknown>) => {
    const defaults = Object.fromEntries(
      Object.entries((def.defaults ?? {}) as Record<string, Record<string, unknown>>).map(([name, d]) => {
        const value = plain(d.value);
        return [name, { ...(value !== undefined && { value }), ...(typeof d.type === "string" && { type: d.type }), ...(d.required === true && { required: true }) }];
      }),
    );
    const credentials = Object.fromEntries(Object.entries((def.credentials ?? {}) as Record<string, { type?: string }>).map(([name, c]) => [name, { password: c?.type === "password" }]));
    const count = (n: unknown) => (typeof n === "number" ? n : 0);
    const color = typeof def.color === "string" && /^#[0-9a-f]{6}$/i.test(def.color) ? def.color : undefined;
    types.push({ type, module, category: String(def.category ?? "config"), color, inputs: count(def.inputs), outputs: count(def.outputs), defaults, credentials, help: helpOf(type, html + localeHtml) });
  };
  const RED = new Proxy({}, { get: (_t, key) => (key === "nodes" ? new Proxy({}, { get: (_n, k) => (k === "registerType" ? registerType : anything) }) : anything) });
  const context = vm.createContext({ RED, $: anything, jQuery: anything, window: anything, document: anything, console: { log() {}, warn() {} } });
  for (const [, script] of html.matchAll(/<script(?:\s+type=["']text\/javascript["'])?\s*>([\s\S]*?)<\/script>/g)) {
    try {
      vm.runInContext(script, context, { timeout: 1000 });
    } catch {
      // An editor script that needs more of the browser than the stand-in gives: its types registered before that still count.
    }
  }
  return types;
}

function helpOf(type: string, html: string): string {
  const start = html.indexOf(`data-help-name="${type}"`);
  if (start < 0) return "";
  const paragraph = /<p>([\s\S]*?)<\/p>/.exec(html.slice(start))?.[1] ?? "";
  return paragraph.replace(/<[^>]+>/g, "").replace(/\s+/g, " ").trim();
}
