/**
 * JavaScript for transform.function, under limits (issue 19 point 5, the limits of issue 18).
 *
 * Where the code runs, and why (figures: bench/results/function-chain.md): on the runtime's
 * thread by default, in a node:vm context of its own with the code instrumented by acorn so
 * every loop iteration and function entry ticks a clock (function-sandbox.mjs). A call in a
 * worker thread costs a message round trip per node, vm's `timeout` a watchdog thread per call;
 * a tick costs a counter. A run past `timeoutMs` (a never-settling promise is ended by a
 * timer) or adding more than `memoryMb` to the heap ends with a UserCodeLimitError naming the
 * limit, and the engine dead-letters the message.
 *
 * A run still going after INLINE_MS with no effect yet (no emit, no log) starts over in the
 * worker pool, from the state it started with: there a heap limit (resourceLimits) ends even
 * one giant allocation and terminate() a builtin that never returns, and the runtime's thread
 * is free for other pipelines. The node then stays in the pool (`isolation: "worker"` puts it
 * there from the start). A run that had an effect cannot start over, so it runs on here until
 * its limits end it, holding the thread up to `timeoutMs`.
 */
import path from "node:path";
import { PROJECT_ROOT } from "../paths";
import { compileFunction, MoveToWorker, type CompiledFunction, type FunctionHooks, type SandboxState } from "./function-sandbox.mjs";
import { UserCodeLimitError } from "./limits.mjs";
import { UserCodeWorkerPool } from "./worker-pool";

/**
 * How long a run may go on the runtime's thread before it starts over in a worker (if it had
 * no effect yet: no emit, no log): long enough for any per-message transform, short enough
 * that a runaway leaves the thread before a neighbour's request notices much.
 */
export const INLINE_MS = 10;

/** Heap limit of a worker running function code, MB: the hard bound behind `memoryMb`. */
export const FUNCTION_WORKER_MEMORY_MB = 256;

export interface FunctionOptions {
  timeoutMs: number;
  /** Heap the code may add during one run on the runtime's thread, MB (a worker's whole heap is capped at FUNCTION_WORKER_MEMORY_MB). */
  memoryMb: number;
  isolation: "inline" | "worker";
  /** Packages `require` may load (the node then needs `exec`). */
  libs: readonly string[];
  /** The ports `ctx.emit` may send on. */
  outputs: readonly string[];
  log(level: FunctionLogLevel, text: string): void;
  /** Where `require` resolves packages from: the project's node_modules. */
  requireFrom?: string;
}

type Emit = (port: string, payload: unknown) => Promise<unknown>;
type FunctionLogLevel = "debug" | "info" | "warn" | "error";

let workers: UserCodeWorkerPool | undefined;
function workerPool(): UserCodeWorkerPool {
  workers ??= new UserCodeWorkerPool({
    module: path.join(PROJECT_ROOT, "runtime", "user-code", "function-worker.mjs"),
    memoryMb: FUNCTION_WORKER_MEMORY_MB,
    what: "JavaScript function",
  });
  return workers;
}

export class LimitedFunction {
  private readonly inline: CompiledFunction;
  private readonly sandboxState: SandboxState;
  /** Set once a run on the runtime's thread ran into a limit: the next runs go to the worker pool. */
  private offThread: boolean;
  /** Set while an async run is unsettled: runs of this node go one after another (its state is one, and the sandbox runs one call at a time). */
  private pending?: Promise<void>;
  private readonly requireFrom: string;
  /** The limits of a run on the runtime's thread, made once: a run is a few microseconds. */
  private readonly inlineLimits: { timeoutMs: number; memoryMb: number; overrunMs: number };
  /** The sandbox's hooks, made once: `emit` sends on the running message's emit (one run at a time). */
  private readonly hooks: FunctionHooks;
  private emit: Emit = () => Promise.resolve();

  constructor(readonly code: string, readonly options: FunctionOptions, state?: Record<string, unknown>) {
    this.requireFrom = options.requireFrom ?? path.join(PROJECT_ROOT, "package.json");
    this.inline = compileFunction(code, { libs: options.libs, requireFrom: this.requireFrom });
    this.sandboxState = this.inline.makeState(state ?? {});
    this.offThread = options.isolation === "worker";
    this.inlineLimits = { timeoutMs: options.timeoutMs, memoryMb: options.memoryMb, overrunMs: INLINE_MS };
    this.hooks = { emit: (port, payload) => this.checked(this.emit, port, payload), log: options.log };
  }

  /** Whether runs go to the worker pool (asked for, or since a runaway). */
  get inWorker(): boolean {
    return this.offThread;
  }

  /** ctx.state as plain data, to save. */
  state(): Record<string, unknown> {
    return this.inline.readState(this.sandboxState);
  }

  /** The code's result, or a promise of it when the code is async or runs in a worker (see UserCode.javascript). */
  run(payload: unknown, emit: Emit): unknown {
    if (this.pending) {
      const next = this.pending.then(() => this.runNow(payload, emit));
      this.track(next);
      return next;
    }
    const result = this.runNow(payload, emit);
    if (result instanceof Promise) this.track(result);
    return result;
  }

  /** Later runs wait for `running` to settle: one run at a time. */
  private track(running: Promise<unknown>): void {
    const settled = running.then(
      () => {},
      () => {},
    );
    this.pending = settled;
    void settled.then(() => {
      if (this.pending === settled) this.pending = undefined;
    });
  }

  private runNow(payload: unknown, emit: Emit): unknown {
    return this.offThread ? this.inWorkerPool(payload, emit) : this.onThread(payload, emit);
  }

  private onThread(payload: unknown, emit: Emit): unknown {
    this.emit = emit;
    // Kept to start over from if the run moves to a worker; an empty state costs nothing to keep.
    const before = isEmpty(this.sandboxState.state as object) ? undefined : this.state();
    try {
      const result = this.inline.run(payload, this.sandboxState, this.hooks, this.inlineLimits);
      return result instanceof Promise ? result.catch((err: unknown) => this.afterLimit(err, payload, emit, before)) : result;
    } catch (err) {
      return this.afterLimit(err, payload, emit, before);
    }
  }

  /**
   * A run on the runtime's thread that ran into a limit sends this node's next runs to the pool;
   * one that only ran over INLINE_MS, with no effect yet, starts over there from the state it
   * started with, with what is left of its time.
   */
  private afterLimit(err: unknown, payload: unknown, emit: Emit, before: Record<string, unknown> | undefined): unknown {
    if (!(err instanceof UserCodeLimitError || err instanceof MoveToWorker)) throw err;
    this.offThread = true;
    if (!(err instanceof MoveToWorker)) throw err;
    this.replaceState(before ?? {});
    return this.inWorkerPool(payload, emit, Math.max(0, this.options.timeoutMs - INLINE_MS));
  }

  private checked(emit: Emit, port: string, payload: unknown): Promise<unknown> {
    if (!this.options.outputs.includes(port)) return Promise.reject(new Error(`ctx.emit("${port}"): no such output; the node's outputs: ${this.options.outputs.join(", ")}`));
    return emit(port, payload);
  }

  private replaceState(data: Record<string, unknown>): void {
    const live = this.sandboxState.state as Record<string, unknown>;
    for (const key of Object.keys(live)) delete live[key];
    Object.assign(live, this.inline.makeState(data).state);
  }

  private async inWorkerPool(payload: unknown, emit: Emit, leftMs = this.options.timeoutMs): Promise<unknown> {
    const { timeoutMs, libs } = this.options;
    const limits = { timeoutMs: leftMs, label: timeoutMs, memoryMb: FUNCTION_WORKER_MEMORY_MB };
    const job = { code: this.code, libs, requireFrom: this.requireFrom, payload, state: this.state(), limits };
    const reply = (await workerPool().run(job, leftMs, timeoutMs)) as {
      value: unknown;
      state: Record<string, unknown>;
      emits: [string, unknown][];
      logs: [FunctionLogLevel, string][];
    };
    // The worker ran on a copy: its state replaces this one's, keys and all.
    this.replaceState(reply.state);
    for (const [level, text] of reply.logs) this.options.log(level, text);
    await Promise.all(reply.emits.map(([port, p]) => this.checked(emit, port, p)));
    return reply.value;
  }
}

/** Whether `o` has no own enumerable key (without an array of its keys: this runs per message). */
function isEmpty(o: object): boolean {
  for (const key in o) if (Object.hasOwn(o, key)) return false;
  return true;
}
