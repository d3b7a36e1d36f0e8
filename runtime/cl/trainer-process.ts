/**
 * Runs `train()` in a child process at low CPU priority (nice 10) so the serving process
 * keeps its latency: training competes for cores only when they are idle. The examples go
 * through a snapshot file; the rest of the job and the result travel over IPC with Node's
 * "advanced" serialization, so typed arrays stay binary.
 */
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { setPriority, tmpdir } from "node:os";
import path from "node:path";
import { childEntry } from "../paths";
import { writeSnapshot } from "./snapshot";
import type { TrainJob, TrainProgress, TrainResult } from "./train";

export interface TrainInProcessOptions {
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
  /** Nice value for the child (higher is lower priority). */
  niceness?: number;
}

type ChildMessage = { type: "progress"; progress: TrainProgress } | { type: "result"; result: TrainResult } | { type: "error"; message: string };

const CHILD = childEntry("runtime/cl/train-child.ts");

export async function trainInChildProcess(job: TrainJob, options: TrainInProcessOptions = {}): Promise<TrainResult> {
  // The examples go to the child as a snapshot file, not over IPC: serializing megabytes of
  // them would make the serving process hold a copy while the child reads it.
  const dataRoot = await mkdtemp(path.join(tmpdir(), "evoflow-train-"));
  try {
    const { data, ...rest } = job;
    return await runChild(rest, (await writeSnapshot(dataRoot, data)).dir, options);
  } finally {
    await rm(dataRoot, { recursive: true, force: true });
  }
}

function runChild(job: Omit<TrainJob, "data">, dataDir: string, options: TrainInProcessOptions): Promise<TrainResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD.module, [], { execArgv: CHILD.execArgv, serialization: "advanced", stdio: ["ignore", "ignore", "pipe", "ipc"] });
    let stderr = "";
    let settled = false;
    const finish = (err?: Error, result?: TrainResult) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener("abort", abort);
      if (child.exitCode === null) child.kill();
      if (err) reject(err);
      else resolve(result!);
    };
    const abort = () => finish(new Error("training aborted"));
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      if (child.pid) setPriority(child.pid, options.niceness ?? 10);
    } catch {
      // Not allowed on this system: training still runs, at normal priority.
    }
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on("message", (message: ChildMessage) => {
      if (message.type === "progress") options.onProgress?.(message.progress);
      else if (message.type === "result") finish(undefined, message.result);
      else finish(new Error(message.message));
    });
    child.on("error", (err) => finish(err));
    child.on("exit", (code, signal) => finish(new Error(`the training process exited (${signal ?? code}) before a result${stderr ? `: ${stderr.trim()}` : ""}`)));
    child.send({ type: "job", job, dataDir });
  });
}
