/**
 * Shared by the agent and sync-path benchmarks: child processes (servers and load
 * client) over IPC, percentiles, and the machine description for the results.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { SERVING_V8_FLAGS } from "../runtime/cli/heap";
import { procRss } from "../runtime/process-footprint";
import type { LoadPlan, LoadResult } from "./agent-load-client";

export { procRss };

export const benchDir = import.meta.dirname;

// Every temporary file of the run (model files, artifact caches, registries) under one root,
// removed when the benchmark exits: the servers it forks inherit TMPDIR. An overcommit run
// leaves ~2 GB otherwise.
const tempRoot = mkdtempSync(join(tmpdir(), "evoflow-bench-"));
process.env.TMPDIR = tempRoot;
process.on("exit", () => rmSync(tempRoot, { recursive: true, force: true }));

/**
 * Node flags of the servers under test, as the CLI runs them (bin/evoflow.js), so Evoflow
 * runs as shipped and a bare server on equal flags: `evoflow run` also sets the heap
 * settings of runtime/cli/heap.ts, `evoflow agent` does not.
 */
export const RUNTIME_NODE_FLAGS = ["--max-semi-space-size=32", ...SERVING_V8_FLAGS];
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=32"];

/** Forks a TypeScript child with IPC; resolves with its first message (its "ready" report). */
export function forkChild<T>(script: string, args: string[] = [], nodeFlags: string[] = []): Promise<{ child: ChildProcess; ready: T }> {
  const child = fork(join(benchDir, script), args, { execArgv: [...nodeFlags, "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", (ready) => resolve({ child, ready: ready as T }));
    child.once("exit", (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
  });
}

/** Sends a message and waits for the child's answer. */
export function ask<T>(child: ChildProcess, message: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as T));
    child.send(message as object);
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const { child } = await forkChild("agent-load-client.ts");
  const result = await ask<LoadResult>(child, plan);
  await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
  return result;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function latencySummary(latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: sorted.length, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
}

/** `--name N` from the command line, else `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

export const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;
export const mb = (bytes: number) => round(bytes / 1e6, 1);

/** CPU time of every thread of a process, ns (the scheduler's own count: exact, where /proc/pid/stat counts 10 ms ticks). */
export const cpuNs = (pid: number) => readdirSync(`/proc/${pid}/task`).reduce((sum, t) => sum + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]), 0);

/** This process's peak resident set (VmHWM: getrusage's maxrss would include the parent's, from before exec). */
export const peakRss = () => procRss("self", "VmHWM") || process.resourceUsage().maxRSS * 1024;

export function machine() {
  // The load average shows how busy the (shared) machine was when the figures were taken.
  return { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGB: round(totalmem() / 1e9, 1), node: process.version, platform: `${process.platform}-${process.arch}`, loadAverage1m: round(loadavg()[0], 2) };
}

/**
 * Pins a process, every thread it has and will start, to one core (taskset): benches that
 * compare servers put them alike, away from their load generator's core.
 */
export function pinToCore(pid: number, core: number): void {
  execFileSync("taskset", ["-a", "-p", "-c", String(core), String(pid)], { stdio: "ignore" });
}
