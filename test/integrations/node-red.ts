/**
 * Real Node-RED 4 for the palette package's tests: a user folder with the packed
 * `node-red-contrib-evoflow` installed by npm as a user would, Node-RED as a child
 * process on a free loopback port, and its admin API.
 *
 * No registry is reached: npm runs with --offline and an empty cache of its own, and the
 * package's one dependency, ws, is packed from this repository's node_modules and given to
 * the same `npm install`, which takes it for the dependency (its version meets the range).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CliProcess } from "../nats/cli";

export const ROOT = resolve(import.meta.dirname, "../..");
export const PALETTE_DIR = join(ROOT, "integrations/node-red-contrib-evoflow");
const RED_JS = join(ROOT, "node_modules/node-red/red.js");

function npm(args: string[], cwd: string): string {
  return execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `npm pack` of `dir` into `into`; the tarball's path. */
export function pack(dir: string, into: string): string {
  const before = new Set(readdirSync(into));
  npm(["pack", "--pack-destination", into, dir], into);
  const made = readdirSync(into).filter((f) => f.endsWith(".tgz") && !before.has(f));
  if (made.length !== 1) throw new Error(`npm pack of ${dir} made ${made.join(", ") || "nothing"}`);
  return join(into, made[0]);
}

/** A Node-RED user folder with the palette package installed from its tarball; npm's output. */
export function userDirWithPalette(): { userDir: string; npmOutput: string } {
  const work = mkdtempSync(join(tmpdir(), "node-red-palette-"));
  const tarball = pack(PALETTE_DIR, work);
  const ws = pack(join(ROOT, "node_modules/ws"), work);
  const userDir = join(work, "user");
  mkdirSync(userDir);
  // What Node-RED itself writes there on first start.
  writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "node-red-project", description: "A Node-RED Project", version: "0.0.1", private: true }));
  const npmOutput = npm(["install", "--offline", "--cache", join(work, "npm-cache"), "--no-audit", "--no-fund", ws, tarball], userDir);
  return { userDir, npmOutput };
}

export interface NodeRed {
  url: string;
  process: CliProcess;
  /** POST /flows (a full deploy); resolves when Node-RED has started them. */
  deploy(flow: object[]): Promise<void>;
  /** GET an admin route as JSON. */
  get(path: string): Promise<unknown>;
  stop(): Promise<number | null>;
}

/** Node-RED on a free loopback port with `userDir`; its credentials encrypted with a fixed key. */
export async function startNodeRed(userDir: string): Promise<NodeRed> {
  writeFileSync(
    join(userDir, "settings.js"),
    `module.exports = ${JSON.stringify({
      uiHost: "127.0.0.1",
      uiPort: 0,
      flowFile: "flows.json",
      credentialSecret: "node-red test key",
      logging: { console: { level: "info" } },
      telemetry: { enabled: false },
      // No welcome tour over the editor in the browser test, and no palette catalogue fetched
      // from catalogue.nodered.org: where outside hosts are dropped (CI), that request hangs.
      editorTheme: { tours: false, palette: { catalogues: [] } },
    })};\n`,
  );
  const child = spawn(process.execPath, [RED_JS, "--userDir", userDir, "--settings", join(userDir, "settings.js")], { stdio: ["ignore", "pipe", "pipe"] });
  const proc = new CliProcess(child);
  const url = (await proc.waitFor(/Server now running at (http:\/\/\S+?)\/?\s/))[1];
  await proc.waitFor(/Started flows/);
  const started = () => proc.output.split("Started flows").length - 1;
  return {
    url,
    process: proc,
    async deploy(flow) {
      const before = started();
      const res = await fetch(`${url}/flows`, { method: "POST", headers: { "content-type": "application/json", "node-red-deployment-type": "full" }, body: JSON.stringify(flow) });
      if (res.status !== 204 && res.status !== 200) throw new Error(`POST /flows: ${res.status} ${await res.text()}`);
      const deadline = Date.now() + 20_000;
      while (started() === before) {
        if (Date.now() > deadline) throw new Error(`Node-RED did not start the flows:\n${proc.output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async get(path) {
      const res = await fetch(`${url}${path}`, { headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return res.json();
    },
    stop: () => proc.kill("SIGTERM"),
  };
}

/**
 * A function node that keeps what a test reads of a message, and a file node appending it
 * as a JSON line to `file`: the flow's outputs, read back by the test.
 */
export function jsonlSink(id: string, z: string, file: string, keep: string): Record<string, unknown>[] {
  return [
    { id, type: "function", z, name: `keep for ${id}`, func: `msg.payload = ${keep};\nreturn msg;`, outputs: 1, wires: [[`${id}-file`]] },
    { id: `${id}-file`, type: "file", z, name: "", filename: file, filenameType: "str", appendNewline: true, createDir: true, overwriteFile: "false", encoding: "none", wires: [] },
  ];
}

/** Node-RED takes a node without x and y for a config node: give each node of a tab a place on a grid. */
export function placed(nodes: Record<string, unknown>[]): Record<string, unknown>[] {
  return nodes.map((n, i) => (n.z && n.x === undefined ? { x: 150 + (i % 6) * 180, y: 60 + Math.floor(i / 6) * 80, ...n } : n));
}
