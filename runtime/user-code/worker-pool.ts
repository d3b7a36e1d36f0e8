import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { UserCodeLimitError, formatCount } from "./limits.mjs";

/**
 * Worker threads for user code whose limits must be hard: a heap limit (`resourceLimits`: an
 * allocation past it ends the worker, not the process) and a deadline (terminate() stops even a
 * builtin or a regexp that never returns to JavaScript). A worker runs one job at a time and is
 * replaced after it was ended; workers start on first use (~12 MB of RSS each, 50-400 ms to
 * start) and keep the process alive only while they have work (see dispatch).
 *
 * A job's clock starts when a ready worker takes it: the limit is on the code's run time, and a
 * worker's start-up (the first job only) or a queue behind other jobs is not the code's doing.
 *
 * The worker module posts `{ ready: true }` once loaded, then answers `{ id, ok: true, value }` or
 * `{ id, ok: false, message, limit? }` to each `{ id, ...job }` it is posted.
 */
export interface WorkerPoolOptions {
  /** Absolute path of the worker module (plain JavaScript: workers get no TypeScript loader). */
  module: string;
  /** Heap limit of each worker, MB. */
  memoryMb: number;
  /** Names the code in errors: "JSONata expression". */
  what: string;
  size?: number;
}

interface Pending {
  job: Record<string, unknown>;
  /** Run time left, ms. */
  leftMs: number;
  limitMs: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running?: Pending & { timer: NodeJS.Timeout };
}

/**
 * How long past a job's time the pool waits before it terminates the worker: code whose own
 * clock stops it (the worker's JSONata hooks) ends cleanly and the worker serves on; only code
 * stuck where no clock is read (a builtin, a regexp) costs a worker's restart.
 */
const GRACE_MS = 100;

/** Two workers on a small machine: one runaway holding a worker does not queue everyone else's. */
const defaultSize = () => Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2)));

export class UserCodeWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly size: number;
  private nextId = 0;

  constructor(private readonly options: WorkerPoolOptions) {
    this.size = options.size ?? defaultSize();
  }

  /** Runs `job` for at most `leftMs`; `limitMs` is the user's limit, named in the error. */
  run(job: Record<string, unknown>, leftMs: number, limitMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, leftMs, limitMs, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    this.assign();
    // A worker keeps the process alive while a job runs on it or waits for it to start, no longer:
    // a runtime that used the pool still exits when its work is done.
    for (const slot of this.slots) {
      if (slot.running || (!slot.ready && this.queue.length > 0)) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  private assign(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.ready && !s.running);
      if (!slot) {
        // Start a worker unless one is starting already or the pool is full.
        if (this.slots.length < this.size && this.slots.every((s) => s.ready)) this.spawn();
        return;
      }
      const pending = this.queue.shift()!;
      const id = this.nextId++;
      const timer = setTimeout(() => this.end(slot, this.timeError(pending)), pending.leftMs + GRACE_MS);
      slot.running = { ...pending, timer };
      try {
        slot.worker.postMessage({ id, ...pending.job });
      } catch (err) {
        clearTimeout(timer);
        slot.running = undefined;
        pending.reject(new Error(`${this.options.what}: its input cannot be copied to a worker: ${(err as Error).message}`));
      }
    }
  }

  private spawn(): void {
    // No execArgv: the worker needs no TypeScript loader (tsx would add ~35 MB to each).
    const worker = new Worker(this.options.module, {
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.options.memoryMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    });
    const slot: Slot = { worker, ready: false };
    worker.on("message", (reply: { ready?: true; ok: boolean; value?: unknown; message?: string; limit?: string }) => {
      if (reply.ready) {
        slot.ready = true;
        return this.dispatch();
      }
      const running = slot.running;
      if (!running) return;
      clearTimeout(running.timer);
      slot.running = undefined;
      if (reply.ok) running.resolve(reply.value);
      else running.reject(reply.limit ? new UserCodeLimitError(reply.message!, reply.limit as never) : new Error(reply.message));
      this.dispatch();
    });
    worker.on("error", (err: Error & { code?: string }) => {
      const memory = err.code === "ERR_WORKER_OUT_OF_MEMORY";
      this.end(slot, memory ? new UserCodeLimitError(`${this.options.what} exceeded its memory limit of ${this.options.memoryMb} MB`, "memory") : err, false);
    });
    worker.on("exit", () => this.end(slot, new Error(`${this.options.what}: its worker stopped`), false));
    this.slots.push(slot);
  }

  /** Fails the slot's job with `err` and drops the worker (terminating it unless it is already gone). */
  private end(slot: Slot, err: Error, terminate = true): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    if (terminate) void slot.worker.terminate();
    if (slot.running) {
      clearTimeout(slot.running.timer);
      slot.running.reject(err);
      slot.running = undefined;
    }
    // A worker that ended before it was ready would end again: fail what waits rather than loop.
    if (!slot.ready) for (const pending of this.queue.splice(0)) pending.reject(new Error(`${this.options.what}: its worker could not start: ${err.message}`));
    // Replaced at once, so the next job (often the same runaway again) does not wait for a start.
    else if (this.slots.every((s) => s.ready)) this.spawn();
    this.dispatch();
  }

  private timeError(pending: Pending): Error {
    return new UserCodeLimitError(`${this.options.what} exceeded its time limit of ${formatCount(pending.limitMs)} ms`, "time");
  }
}
