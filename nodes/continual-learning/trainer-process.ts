/**
 * Runs `train()` in a child process at the lowest CPU priority (low-priority.ts) so the serving
 * process keeps its latency: training gets a core only when serving leaves it idle. The examples go
 * through a snapshot file; the rest of the job and the result travel over IPC with Node's
 * "advanced" serialization, so typed arrays stay binary.
 *
 * The process is kept for the next job (up to `IDLE_EXIT_MS` idle, one kept at most): fork()
 * copies the parent's page tables with its event loop blocked, ~35 ms for a 650 MB serving
 * process, and every request due meanwhile waits.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { childEntry } from "../../runtime/paths";
import { spawnLowPriority } from "./low-priority";
import { writeSnapshot } from "./snapshot";
import type { TrainJob, TrainProgress, TrainResult } from "./train";

export interface TrainInProcessOptions {
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
  /** Nice value for the child where the idle scheduling class is unavailable (higher is lower priority). */
  niceness?: number;
  /** A snapshot folder (nodes/continual-learning/snapshot.ts) that already holds `job.data`: the child reads it there instead of a copy. */
  snapshotDir?: string;
  /**
   * The CL state in files (state-store.ts), never in this process: the child starts from `from`
   * (else `job.state`, if the file is not there) and writes the result's state to `to`; the
   * result then carries only its seen classes and experience count.
   */
  stateFiles?: StateFiles;
}

export type StateFiles = { from?: string; to: string };

type ChildMessage = { type: "progress"; progress: TrainProgress } | { type: "result"; result: TrainResult } | { type: "error"; message: string };

const CHILD = childEntry("nodes/continual-learning/train-child.ts");

/** How long a training process waits for its next job before it is stopped. */
export const IDLE_EXIT_MS = 60_000;

let idle: { child: ChildProcess; timer: NodeJS.Timeout; onExit: () => void } | undefined;

/** Stops the training process kept for the next job; false when there was none (the next job starts a new one either way). */
export function stopIdleTrainer(): boolean {
  if (!idle) return false;
  clearTimeout(idle.timer);
  idle.child.off("exit", idle.onExit).kill();
  idle = undefined;
  return true;
}

function holdsEventLoop(child: ChildProcess, hold: boolean): void {
  for (const handle of [child, child.channel, child.stderr] as ({ ref?(): void; unref?(): void } | null | undefined)[]) {
    if (hold) handle?.ref?.();
    else handle?.unref?.();
  }
}

function takeChild(niceness?: number): ChildProcess {
  const kept = idle;
  idle = undefined;
  if (kept) (clearTimeout(kept.timer), kept.child.off("exit", kept.onExit));
  if (kept && kept.child.exitCode === null && kept.child.connected) {
    holdsEventLoop(kept.child, true);
    return kept.child;
  }
  kept?.child.kill();
  return spawnLowPriority(process.execPath, [...CHILD.execArgv, CHILD.module], { serialization: "advanced", stdio: ["ignore", "ignore", "pipe", "ipc"] }, niceness);
}

/** Keeps a child that finished its job cleanly for the next one; unreferenced, so it never keeps the parent alive. */
function keepChild(child: ChildProcess): void {
  if (idle || !child.connected) return void child.kill();
  holdsEventLoop(child, false);
  const onExit = () => void stopIdleTrainer();
  child.once("exit", onExit);
  idle = { child, timer: setTimeout(onExit, IDLE_EXIT_MS).unref(), onExit };
}

export async function trainInChildProcess(job: TrainJob, options: TrainInProcessOptions = {}): Promise<TrainResult> {
  // The examples go to the child as a snapshot file, not over IPC: serializing megabytes of
  // them would make the serving process hold a copy while the child reads it.
  const { data, ...rest } = job;
  if (options.snapshotDir) return runChild(rest, options.snapshotDir, options);
  const dataRoot = await mkdtemp(path.join(tmpdir(), "evoflow-train-"));
  try {
    return await runChild(rest, (await writeSnapshot(dataRoot, data, {}, "job")).dir, options);
  } finally {
    await rm(dataRoot, { recursive: true, force: true });
  }
}

function runChild(job: Omit<TrainJob, "data">, dataDir: string, options: TrainInProcessOptions): Promise<TrainResult> {
  return new Promise((resolve, reject) => {
    const child = takeChild(options.niceness);
    let stderr = "";
    let settled = false;
    const onStderr = (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000));
    const onMessage = (message: ChildMessage) => {
      if (message.type === "progress") options.onProgress?.(message.progress);
      else if (message.type === "result") finish(undefined, message.result);
      else finish(new Error(message.message));
    };
    const onError = (err: Error) => finish(err);
    const onExit = (code: number | null, signal: string | null) => finish(new Error(`the training process exited (${signal ?? code}) before a result${stderr ? `: ${stderr.trim()}` : ""}`));
    const finish = (err?: Error, result?: TrainResult) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener("abort", abort);
      child.stderr!.off("data", onStderr);
      child.off("message", onMessage).off("error", onError).off("exit", onExit);
      // A failed or aborted job's process is not trusted with the next one.
      if (err) {
        if (child.exitCode === null) child.kill();
        reject(err);
      } else {
        keepChild(child);
        resolve(result!);
      }
    };
    const abort = () => finish(new Error("training aborted"));
    options.signal?.addEventListener("abort", abort, { once: true });
    child.stderr!.on("data", onStderr);
    child.on("message", onMessage).on("error", onError).on("exit", onExit);
    child.send({ type: "job", job, dataDir, stateFiles: options.stateFiles });
  });
}
