/**
 * The one-way imports of DESIGN.md "Layout", read from the sources' relative imports (type-only
 * ones included, as madge counts them): no import cycle in runtime/, nodes/, gpu-agent/ or sdk/;
 * the runtime imports no node and only gpu-agent/index.ts of the agent; the SDK imports nothing
 * outside itself; testing/ (evoflow/testing, which runs nodes on the real engine) is imported by
 * nothing it tests but the CLI (`evoflow test`); nodes import the runtime only where listed below; the ONNX toolkit and the Python workers import only the SDK, and of the agent only its python backend imports those workers.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const AREAS = ["runtime", "onnx", "python", "nodes", "gpu-agent", "sdk", "testing"];

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : sources(rel);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

function resolve(from: string, spec: string): string | undefined {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  return [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`].find((c) => existsSync(path.join(ROOT, c)) && statSync(path.join(ROOT, c)).isFile());
}

const graph = new Map<string, string[]>();
for (const file of AREAS.flatMap(sources)) {
  const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), "utf8"), true, true);
  graph.set(file, importedFiles.map((i) => i.fileName).filter((s) => s.startsWith(".")).flatMap((s) => resolve(file, s) ?? []));
}
const imports = [...graph].flatMap(([from, tos]) => tos.map((to) => ({ from, to })));

/** Strongly connected groups of more than one file (Tarjan). */
function cycles(): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>(), found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next), low.set(v, next++), stack.push(v), on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do (w = stack.pop()!), on.delete(w), group.push(w);
    while (w !== v);
    if (group.length > 1) found.push(group);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

// Still to move: JSONata's time limit (behind the SDK's userCode service with the function node).
// runtime/paths.ts stays: the trainer's child process is an entry point of the runtime's bundle,
// which only the runtime can locate (scripts/build-runtime.mjs).
const NODES_USE_OF_RUNTIME = /^runtime\/(paths|user-code\/limited-jsonata)\.ts$/;

describe("the layout's one-way imports", () => {
  it("has no import cycle", () => {
    expect(graph.size).toBeGreaterThan(150); // the sources were read
    expect(cycles()).toEqual([]);
  });

  it("the runtime imports no node, and of the agent only gpu-agent/index.ts", () => {
    const wrong = imports.filter(({ from, to }) => from.startsWith("runtime/") && (to.startsWith("nodes/") || (to.startsWith("gpu-agent/") && to !== "gpu-agent/index.ts")));
    expect(wrong).toEqual([]);
  });

  it("the SDK imports nothing outside itself", () => {
    expect(imports.filter(({ from, to }) => from.startsWith("sdk/") && !to.startsWith("sdk/"))).toEqual([]);
  });

  it("the ONNX toolkit (onnx/) imports only the SDK: a library the runtime, the agent and nodes share", () => {
    expect(imports.filter(({ from, to }) => from.startsWith("onnx/") && !to.startsWith("onnx/") && !to.startsWith("sdk/"))).toEqual([]);
  });

  it("the Python workers (python/) import only the SDK: the runtime's python service and the agent's Python models", () => {
    expect(imports.filter(({ from, to }) => from.startsWith("python/") && !to.startsWith("python/") && !to.startsWith("sdk/"))).toEqual([]);
  });

  it("the agent reaches the Python workers from its python backend alone, so the rest of it stays free of processes", () => {
    const wrong = imports.filter(({ from, to }) => from.startsWith("gpu-agent/") && to.startsWith("python/") && from !== "gpu-agent/python-models.ts");
    expect(wrong).toEqual([]);
    expect(imports.some(({ from, to }) => from === "gpu-agent/python-models.ts" && to === "python/pool.ts")).toBe(true);
  });

  it("nothing the test helper runs imports it: only the CLI, the top layer (`evoflow test`)", () => {
    expect(imports.filter(({ from, to }) => !from.startsWith("testing/") && !from.startsWith("runtime/cli/") && to.startsWith("testing/"))).toEqual([]);
    // and the helper runs no command
    expect(imports.filter(({ from, to }) => from.startsWith("testing/") && to.startsWith("runtime/cli/"))).toEqual([]);
  });

  it("nodes import the SDK, not the agent, and the runtime only where still to move", () => {
    const wrong = imports.filter(({ from, to }) => from.startsWith("nodes/") && (to.startsWith("gpu-agent/") || (to.startsWith("runtime/") && !NODES_USE_OF_RUNTIME.test(to))));
    expect(wrong).toEqual([]);
  });
});
