/**
 * One Python worker process (python/worker.py): started with the pool's source, it answers one
 * call at a time, in order; one more call may be written ahead while it runs one (`takeAhead`), so
 * the worker reads it the moment it answers instead of sleeping until Node writes it. The protocol runs over fds 3 (to Python) and 4 (from Python), so the user's
 * print() on stdout and a crash's faulthandler traceback on stderr cannot corrupt it; both are
 * passed to the log, and stderr's end is kept to explain a death.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { PythonError, type PythonPoolOptions, type PythonResult } from "../sdk/python";
import { encodeMessage, MessageReader, type DecodedMessage } from "./frames";
import { ProcessCpu } from "./process-cpu";

/**
 * This file is python/worker-process.ts in the sources and inlined in a chunk of dist/ in the
 * bundle: both one folder below the project root, where python/worker.py is.
 */
export const WORKER_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "python", "worker.py");

/** Loading may import numpy, sklearn, torch…: far longer than a call, on a busy machine too. */
const LOAD_TIMEOUT_MS = 60_000;
const STDERR_KEPT = 8192;

interface Pending {
  payload?: unknown;
  resolve(result: PythonResult): void;
  reject(err: PythonError): void;
  /** performance.now() past which the call has run out of time (from when the worker starts it). */
  deadline: number;
}

/** A call written to a worker that died before starting it: the pool gives it to another. */
export type UnstartedCall = Required<Pick<Pending, "payload" | "resolve" | "reject">>;

/**
 * One BLAS/OpenMP thread a worker unless the user's environment says otherwise: a pool scales by
 * its `workers`, and numpy's OpenBLAS otherwise starts a thread per core that spins after each
 * call, fighting the runtime for the cores. An sklearn predict at batch 32 took 4 ms a request
 * through the agent that way, 0.8 ms with one thread (bench/sklearn-predict.ts).
 */
export const ONE_MATH_THREAD = { OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };

export class WorkerProcess {
  readonly process: ChildProcess;
  /** Resolves once the source is loaded; rejects with a PythonError of kind "load". */
  readonly ready: Promise<void>;
  loaded = false;
  /** The load, then the calls written: the first is the one running, any other waits in the pipe. */
  private readonly pending: Pending[] = [];
  private stderrTail = "";
  private ended = false;
  /** This worker's CPU, read at each answer: what a call used (python/process-cpu.ts). */
  private cpu?: ProcessCpu;
  /** The process has exited ("exit" comes before "close", which reads what it last wrote): no new call goes to it. */
  private exitedProcess = false;
  /** Why this process was killed by us, so its exit names that rather than a crash. */
  private killedFor?: PythonError;
  private readonly exited: Promise<void>;
  /**
   * One timer for the worker's life, re-armed by refresh() at each call rather than a timer made
   * and cleared per call; when it fires it ends a call past its deadline and otherwise does nothing.
   */
  private timer: NodeJS.Timeout;
  /** What the timer runs for: the load's limit, then (from the first call) the call's. */
  private timerMs = LOAD_TIMEOUT_MS;

  constructor(
    interpreter: string,
    private readonly options: PythonPoolOptions,
    readonly index: number,
    onExit: (worker: WorkerProcess) => void,
    private readonly onUnstarted: (calls: UnstartedCall[]) => void,
  ) {
    this.process = spawn(interpreter, [WORKER_SCRIPT], {
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
      env: { ...ONE_MATH_THREAD, ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
    });
    const [, stdout, stderr, toPython, fromPython] = this.process.stdio as [null, Readable, Readable, Writable, Readable];
    const reader = new MessageReader((m) => this.answer(m));
    fromPython.on("data", (chunk: Buffer) => reader.push(chunk));
    // A write to a worker that just died fails with EPIPE: its exit is what reports it.
    for (const stream of [stdout, stderr, toPython, fromPython]) stream.on("error", () => {});
    lines(stdout, (line) => options.log?.("info", line));
    lines(stderr, (line) => {
      this.stderrTail = (this.stderrTail + line + "\n").slice(-STDERR_KEPT);
      options.log?.("warn", line);
    });
    this.timer = setTimeout(() => this.checkDeadline(), LOAD_TIMEOUT_MS);
    this.ready = new Promise<void>((resolve, reject) => {
      this.pending.push({ resolve: () => ((this.loaded = true), resolve()), reject, deadline: performance.now() + LOAD_TIMEOUT_MS });
    });
    this.ready.catch(() => {}); // the pool awaits it; a load failure must not also be an unhandled rejection
    this.exited = new Promise<void>((resolve) => {
      this.process.once("exit", () => (this.exitedProcess = true));
      // "close", not "exit": the answer a worker wrote just before exiting (a load failure) is read first.
      this.process.once("close", (code, signal) => {
        this.end(new PythonError(`${this.label} died (${signal ? `signal ${signal}` : `exit code ${code}`}) ${this.loaded ? "while handling this message" : `loading ${describeSource(options)}`}`, "died", this.stderrTail.trim() || undefined));
        resolve();
      });
      // No process at all (the interpreter is not there): no "close" may follow.
      this.process.once("error", (err) => {
        if (this.process.pid !== undefined) return;
        this.end(new PythonError(`the Python interpreter "${interpreter}" could not start: ${err.message} (set "python" in the settings to another)`, "load"));
        resolve();
      });
    }).then(() => onExit(this));
    const { source, function: fn, pipeline, node, setup } = options;
    this.write({ op: "load", source, function: fn, pipeline, node, worker: index, ...(setup && { setup: setup.function }) }, setup?.argument);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get busy(): boolean {
    return this.pending.length > 0;
  }

  /** Loaded, alive and between calls. */
  get idle(): boolean {
    return this.live && this.pending.length === 0;
  }

  /** Running a call with none written behind it: one more may wait in its pipe. */
  get takesAhead(): boolean {
    return this.live && this.pending.length === 1;
  }

  private get live(): boolean {
    return this.loaded && !this.ended && !this.exitedProcess;
  }

  private get label(): string {
    return `Python worker ${this.index} (pid ${this.process.pid}) of node "${this.options.node}"`;
  }

  /**
   * Sends one call (idle, or `takesAhead`); `resolve` or `reject` is called once with its outcome,
   * unless the worker dies before starting it: then it goes to `onUnstarted`.
   */
  call(payload: unknown, resolve: (result: PythonResult) => void, reject: (err: PythonError) => void): void {
    if (!this.idle && !this.takesAhead) throw new Error(`${this.label} is not ready for a call`);
    const ahead = this.pending.length > 0;
    // A call written ahead starts its time when the one before it answers.
    this.pending.push({ payload, resolve, reject, deadline: ahead ? Infinity : performance.now() + this.options.timeoutMs });
    if (!ahead) this.armTimer();
    this.write({ op: "call" }, payload);
  }

  private armTimer(): void {
    if (this.timerMs === this.options.timeoutMs) this.timer.refresh();
    else {
      clearTimeout(this.timer);
      this.timerMs = this.options.timeoutMs;
      this.timer = setTimeout(() => this.checkDeadline(), this.timerMs);
    }
  }

  private checkDeadline(): void {
    const pending = this.pending[0];
    if (!pending) return;
    const late = performance.now() - pending.deadline;
    if (late < 0) return void setTimeout(() => this.checkDeadline(), -late + 1);
    if (!this.loaded) return this.kill(new PythonError(`${this.label} did not load ${describeSource(this.options)} within ${LOAD_TIMEOUT_MS / 1000} s`, "load"));
    const ms = this.options.timeoutMs.toLocaleString("en-US");
    this.kill(new PythonError(`function ${this.options.function} of node "${this.options.node}" exceeded its time limit of ${ms} ms (timeoutMs): its worker was killed and is being replaced`, "time"));
  }

  /** Kills the process at once; a call in flight fails with `reason`. */
  kill(reason: PythonError): void {
    this.killedFor ??= reason;
    this.process.kill("SIGKILL");
  }

  /** Closes its input (the worker returns on end of input), then kills it if it is still there after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.killedFor ??= new PythonError(`node "${this.options.node}" stopped before this call returned`, "died");
    (this.process.stdio[3] as Writable).end();
    const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
    clearTimeout(this.timer);
  }

  rssBytes(): number | undefined {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.process.pid}/status`, "utf8"))?.[1];
      return kb === undefined ? undefined : Number(kb) * 1024;
    } catch {
      return undefined;
    }
  }

  private write(header: Record<string, unknown>, payload?: unknown): void {
    const input = this.process.stdio[3] as Writable;
    const parts = encodeMessage(header, payload);
    if (parts.length === 1) return void input.write(parts[0]);
    // Corked, the parts leave in one writev.
    input.cork();
    for (const part of parts) input.write(part);
    input.uncork();
  }

  private answer({ header, payload }: DecodedMessage): void {
    const pending = this.pending.shift();
    if (!pending) return;
    const next = this.pending[0];
    if (next) {
      next.deadline = performance.now() + this.options.timeoutMs;
      this.armTimer();
    }
    let cpuSeconds: number | undefined;
    if (!this.loaded) this.cpu = new ProcessCpu(this.process.pid); // from here on, CPU is the calls'
    else cpuSeconds = this.cpu?.sinceLast();
    if (header.ok) return pending.resolve({ value: header.none ? undefined : payload, cpuSeconds });
    const traceback = header.traceback as string | undefined;
    if (!this.loaded) {
      const missing = header.missing as string | undefined;
      const what = missing ? `imports "${missing}", which ${this.process.spawnfile} cannot find` : `did not load`;
      pending.reject(new PythonError(`${describeSource(this.options)} ${what}: ${header.error}`, "load", traceback, missing));
    } else pending.reject(new PythonError(`function ${this.options.function} raised ${header.error}`, "exception", traceback));
  }

  private end(reason: PythonError): void {
    if (this.ended) return;
    this.ended = true;
    this.cpu?.close();
    const [pending, ...unstarted] = this.pending.splice(0);
    clearTimeout(this.timer);
    // The worker runs its calls in order: those behind the one it was on never began.
    if (unstarted.length > 0) this.onUnstarted(unstarted as UnstartedCall[]);
    if (!pending) return;
    // Killed by us (time limit, stop): that reason alone; what stderr held is no traceback of it.
    pending.reject(this.killedFor ?? reason);
  }
}

export function describeSource(options: PythonPoolOptions): string {
  return "file" in options.source ? `module ${path.basename(options.source.file)}` : `the inline code of node "${options.node}"`;
}

function lines(stream: Readable, onLine: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    for (const line of parts) onLine(line);
  });
  stream.on("end", () => rest && onLine(rest));
}
