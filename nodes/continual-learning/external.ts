/**
 * Runs a user's training command (a PyTorch script, anything) under a fixed contract:
 *
 *   in   the dataset snapshot folder (nodes/continual-learning/snapshot.ts: meta.json, x.f32, y.i32) and,
 *        when there is a champion, its ONNX file;
 *   out  an ONNX file at the output path, with the champion's signature (checked);
 *   stdout  progress as JSON lines: {"progress": 0.5, "loss": 0.31, "samples": 12000}
 *           (any other line is logged); the last `samples` is recorded as samples seen.
 *   exit 0  success; anything else fails the update with the stderr tail as the reason.
 *
 * The command is an argv array (no shell) whose items may contain {snapshot}, {base},
 * {output} and {config}; the same values are in the environment as EVOFLOW_SNAPSHOT,
 * EVOFLOW_BASE_MODEL (empty without a champion), EVOFLOW_OUTPUT and EVOFLOW_CONFIG (JSON).
 */
import * as fs from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { readSignature } from "../../onnx/signature";
import { spawnLowPriority } from "./low-priority";

export interface ExternalRun {
  command: string[];
  snapshotDir: string;
  base?: Uint8Array;
  workDir: string;
  config: Record<string, unknown>;
  timeoutMs: number;
  niceness?: number;
  signal?: AbortSignal;
  onProgress?(p: Record<string, number>): void;
  onLog?(line: string): void;
}

export interface ExternalResult {
  onnx: Uint8Array;
  samplesSeen?: number;
  trainingMs: number;
}

function sameSignature(a: Uint8Array, b: Uint8Array): string | undefined {
  const strip = (s: ReturnType<typeof readSignature>) => JSON.stringify({ inputs: s.inputs, outputs: s.outputs });
  const [sa, sb] = [readSignature(a), readSignature(b)];
  return strip(sa) === strip(sb) ? undefined : `the candidate's signature ${strip(sb)} differs from the champion's ${strip(sa)}`;
}

export async function runExternalTrainer(run: ExternalRun): Promise<ExternalResult> {
  await fs.mkdir(run.workDir, { recursive: true });
  const basePath = run.base ? path.join(run.workDir, "base.onnx") : "";
  if (run.base) await fs.writeFile(basePath, run.base);
  const output = path.join(run.workDir, "candidate.onnx");
  await fs.rm(output, { force: true });
  const configJson = JSON.stringify(run.config);
  const values: Record<string, string> = { snapshot: run.snapshotDir, base: basePath, output, config: configJson };
  const argv = run.command.map((arg) => arg.replace(/\{(snapshot|base|output|config)\}/g, (_, key: string) => values[key]));
  if (!argv.length) throw new Error("the external trainer needs a command");

  const started = performance.now();
  let samplesSeen: number | undefined;
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    const child = spawnLowPriority(
      argv[0],
      argv.slice(1),
      {
        cwd: run.workDir,
        env: { ...process.env, EVOFLOW_SNAPSHOT: run.snapshotDir, EVOFLOW_BASE_MODEL: basePath, EVOFLOW_OUTPUT: output, EVOFLOW_CONFIG: configJson },
        stdio: ["ignore", "pipe", "pipe"],
      },
      run.niceness,
    );
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`the training command ran over ${run.timeoutMs} ms and was killed`))), run.timeoutMs);
    const abort = () => (child.kill("SIGKILL"), reject(new Error("training aborted")));
    run.signal?.addEventListener("abort", abort, { once: true });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (parsed && typeof parsed === "object" && "progress" in parsed) {
        const numbers = Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === "number")) as Record<string, number>;
        if (numbers.samples !== undefined) samplesSeen = numbers.samples;
        run.onProgress?.(numbers);
      } else run.onLog?.(line);
    });
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on("error", (err) => (clearTimeout(timer), reject(new Error(`cannot start ${argv[0]}: ${err.message}`))));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      run.signal?.removeEventListener("abort", abort);
      if (code === 0) resolve();
      else reject(new Error(`the training command exited with ${signal ?? code}${stderr.trim() ? `: ${stderr.trim()}` : ""}`));
    });
  });
  let onnx: Uint8Array;
  try {
    onnx = new Uint8Array(await fs.readFile(output));
  } catch {
    throw new Error(`the training command exited 0 but wrote no ONNX file at ${output}`);
  }
  readSignature(onnx); // throws a clear error for a file that is not a model
  const mismatch = run.base ? sameSignature(run.base, onnx) : undefined;
  if (mismatch) throw new Error(mismatch);
  return { onnx, samplesSeen, trainingMs: performance.now() - started };
}
