/**
 * A pool of Python workers for one node (or, later, one model of the agent): `workers` long-lived
 * processes loaded with the same source, each handling one call at a time, calls queued in
 * arrival order for the first free one. A pool of one worker writes the next call to it while it
 * runs one, as that call would go nowhere else: the worker starts it without waiting on Node. A worker that dies or runs out of time fails only its own
 * call (dead letter with the traceback or the limit) and is replaced at once, loading the source
 * again; the others serve on. A replacement that cannot load fails the calls that wait, and the
 * next call tries again, so a broken file does not spin the CPU with restarts.
 */
import { PythonError, type PythonPool, type PythonPoolOptions, type PythonPoolStatus, type PythonResult, type PythonWorkers } from "../sdk/python";
import { WorkerProcess, type UnstartedCall } from "./worker-process";

/** How long a worker may take to return after its input is closed (undeploy) before it is killed. */
const STOP_GRACE_MS = 1000;

interface Queued {
  payload: unknown;
  resolve(result: PythonResult): void;
  reject(err: unknown): void;
}

export class WorkerPool implements PythonPool {
  private readonly slots: (WorkerProcess | undefined)[];
  private readonly queue: Queued[] = [];
  private restarts = 0;
  private lastError?: string;
  private closed = false;

  constructor(private readonly interpreter: string, private readonly options: PythonPoolOptions) {
    this.slots = new Array(options.workers).fill(undefined);
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.slots.length; i++) this.spawn(i);
    try {
      await Promise.all(this.slots.map((w) => w!.ready));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  call(payload: unknown): Promise<PythonResult> {
    if (this.closed) return Promise.reject(new PythonError(`the Python workers of node "${this.options.node}" are stopped`, "died"));
    return new Promise<PythonResult>((resolve, reject) => {
      // Each outcome frees its worker: the next queued call goes to it.
      this.queue.push({
        payload,
        resolve: (result) => {
          this.lastError = undefined;
          resolve(result);
          this.dispatch();
        },
        reject: (err) => {
          if (err instanceof PythonError) this.lastError = err.traceback ? `${err.message}\n${err.traceback}` : err.message;
          reject(err);
          this.dispatch();
        },
      });
      this.dispatch();
    });
  }

  status(): PythonPoolStatus {
    const live = this.slots.filter((w) => w?.loaded);
    return {
      workers: this.slots.length,
      up: live.length,
      busy: live.filter((w) => w!.busy).length,
      queued: this.queue.length,
      restarts: this.restarts,
      ...(this.lastError && { lastError: this.lastError }),
    };
  }

  pids(): number[] {
    return this.slots.flatMap((w) => (w?.loaded && w.pid !== undefined ? [w.pid] : []));
  }

  rssBytes(): number[] {
    return this.slots.flatMap((w) => {
      const rss = w?.loaded ? w.rssBytes() : undefined;
      return rss === undefined ? [] : [rss];
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(this.stoppedError());
    await Promise.all(this.slots.map((w) => w?.stop(STOP_GRACE_MS)));
  }

  private spawn(index: number): WorkerProcess {
    const worker = new WorkerProcess(this.interpreter, this.options, index, (w) => this.exited(w), (calls) => this.requeue(calls));
    this.slots[index] = worker;
    worker.ready.then(
      () => this.dispatch(),
      (err: unknown) => {
        if (this.slots[index] === worker) this.slots[index] = undefined;
        // No worker can take what waits: fail it now rather than leave it queued.
        if (!this.slots.some((w) => w?.loaded)) for (const q of this.queue.splice(0)) q.reject(err);
      },
    );
    return worker;
  }

  private exited(worker: WorkerProcess): void {
    if (this.slots[worker.index] !== worker) return;
    this.slots[worker.index] = undefined;
    if (this.closed || !worker.loaded) return;
    this.restarts++;
    this.spawn(worker.index);
  }

  private stoppedError(): PythonError {
    return new PythonError(`node "${this.options.node}" stopped before this message reached a Python worker`, "died");
  }

  /** Calls a dead worker had not started go first, in their order, to the next worker free. */
  private requeue(calls: UnstartedCall[]): void {
    if (this.closed) for (const c of calls) c.reject(this.stoppedError());
    else this.queue.unshift(...calls);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      // With several workers a call waits in the pool for whichever frees first.
      const free = this.slots.find((w) => w?.idle) ?? (this.slots.length === 1 ? this.slots.find((w) => w?.takesAhead) : undefined);
      if (!free) break;
      const q = this.queue.shift()!;
      free.call(q.payload, q.resolve, q.reject);
    }
    // Workers that could not load come back on demand: the next call tries again.
    if (this.queue.length > 0 && !this.closed) for (let i = 0; i < this.slots.length; i++) if (!this.slots[i]) this.spawn(i);
  }
}

/** The runtime's `python` service: pools started by the nodes that ask, with the interpreter the settings name. */
export function createPythonWorkers(options: { interpreter?: string } = {}): PythonWorkers {
  const interpreter = options.interpreter ?? "python3";
  return { interpreter, pool: (o) => new WorkerPool(interpreter, o) };
}
