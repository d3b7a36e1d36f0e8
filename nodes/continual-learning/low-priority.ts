/**
 * Starts a training process at the lowest CPU priority the machine offers, so that serving keeps its
 * latency. Linux's idle scheduling class (SCHED_IDLE, through util-linux's `chrt --idle 0`, which then
 * execs the command, so every thread the process starts is in the class) gives training a core only
 * when no other thread wants one, and a serving thread that wakes up takes the core back at once; a
 * nice value only weighs training lower, and it was set on the main thread alone, after its helper
 * threads had started. Where chrt is missing: the nice value.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { setPriority } from "node:os";
import path from "node:path";

const CHRT = ["/usr/bin/chrt", "/bin/chrt"].find((file) => existsSync(file));

/** Whether `command` names a file, directly or on PATH (else spawn's own ENOENT error says so, not chrt's exit code). */
function found(command: string, cwd?: string): boolean {
  if (command.includes("/")) return existsSync(path.resolve(cwd ?? ".", command));
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, command)));
}

export function spawnLowPriority(command: string, args: string[], options: SpawnOptions, niceness = 10): ChildProcess {
  if (CHRT && found(command, options.cwd?.toString())) return spawn(CHRT, ["--idle", "0", command, ...args], options);
  const child = spawn(command, args, options);
  try {
    if (child.pid) setPriority(child.pid, niceness);
  } catch {
    // Not allowed here: the process runs at normal priority.
  }
  return child;
}
