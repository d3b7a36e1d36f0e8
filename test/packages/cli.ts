/**
 * The real CLI as a child process, for the node-package tests: packages are found from the
 * working folder, the data folder and --nodes, so each test gives its own.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "bin/evoflow.js");

export function evoflow(args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** `evoflow nodes list --packages --json`: the packages a command run in `cwd` with `args` loads. */
export function packagesSeen(args: string[], cwd = ROOT): { name: string; version: string; dir: string; source: string; types: string[] }[] {
  const run = evoflow(["nodes", "list", "--packages", "--json", ...args], cwd);
  if (run.status !== 0) throw new Error(`evoflow nodes exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** A node package in `dir` giving one pass-through node type per name in `types`. */
export function writePackage(dir: string, json: Record<string, unknown>, types: string[]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ version: "1.0.0", type: "module", ...json }, null, 2));
  const defs = types.map(
    (type) => `defineNode({ type: ${JSON.stringify(type)}, category: "transform", title: "Pass", description: "Passes its input on.",
  inputs: { in: port.any() }, outputs: { out: port.sameAs("in") }, config: z.object({}),
  create: () => ({ onMessage: (_p, m, emit) => emit("out", m.payload) }) })`,
  );
  writeFileSync(path.join(dir, "index.js"), `import { defineNode, port, z } from "evoflow/sdk";\nexport default [${defs.join(",\n")}];\n`);
  return dir;
}

export interface Server {
  url: string;
  token: string;
  output(): string;
  stop(): void;
  /** SIGKILL: a crash, nothing flushed. */
  kill(): void;
}

/** `evoflow run <args>` on any free port; resolves once it listens (or rejects with its output). */
export function startRun(args: string[], dataDir: string, cwd = ROOT, command: "run" | "serve" = "run"): Promise<Server> {
  const child = spawn(process.execPath, [BIN, command, ...args, "--port", "0", "--data", dataDir], { cwd });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`evoflow run exited with ${code}:\n${output}`)));
    child.stdout.on("data", () => {
      const url = /evoflow listening on (\S+)/.exec(output)?.[1];
      if (!url) return;
      // `evoflow run` makes a token when given none, saved in the data folder.
      const token = readFileSync(path.join(dataDir, "token"), "utf8").trim();
      resolve({ url, token, output: () => output, stop: () => child.kill("SIGTERM"), kill: () => child.kill("SIGKILL") });
    });
  });
}

export async function post(server: Server, route: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${server.url}${route}`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
