/**
 * JSONata for nodes, under limits (issue 18 point 6): what transform.jsonata, control.switch
 * and any later JSONata user compile their expressions with.
 *
 * Each evaluation starts on the runtime's thread with a hook after every step
 * (jsonata-core.mjs): a depth limit, a size limit on what a step makes (MAX_ITEMS items,
 * MAX_STRING characters, counted through nested values, so `[$a, $a]` doubled 40 times stops at
 * 2^20), and a clock that waits a turn of the event loop every SLICE_MS so other pipelines are
 * served; a regexp that backtracks too much falls back to V8's linear-time engine. An
 * evaluation still running after INLINE_MS (or calling `$sort`/`$distinct` on a long array, or
 * with a regex that needs backtracking) starts again in a worker thread with a heap limit of
 * WORKER_MEMORY_MB, at the lowest CPU priority, where its own clock ends it at the deadline and
 * the pool terminates it if it is stuck: neither memory, nor a builtin, nor a regexp that never
 * yields can take the runtime down or hold its thread. JSONata has no side effects, so starting over gives
 * the same result (`$now()` aside). A tripped limit throws an error naming it; the engine
 * dead-letters the message with that reason and a sync caller gets 422.
 *
 * Costs measured (bench/results/runaway-neighbour.md; a 2-core machine shared with other jobs,
 * CPU time): the limits add ~3.5-4 us to a trivial `{ 'double': n * 2 }` (8-11.5 us plain, medians
 * over seven runs): ~1.5 us of it is jsonata awaiting the hook at each of the 6 steps, the rest
 * the evaluation's state and the result's measurement. (bench:engine's chain uses transform.set,
 * not JSONata.) A runaway holds the runtime's thread for at most INLINE_MS, in 0.5 ms slices,
 * and the same expression's next evaluations none. Neighbour p99 during back-to-back runaways:
 * 1.16-1.83x idle over seven runs, against 5.6x for legitimate requests sent the same way.
 */
import path from "node:path";
import type { JsonataLimits } from "../../sdk/user-code";
import { PROJECT_ROOT } from "../paths";
import { asLimitError, compileLimited, MoveToWorker, type CompiledLimited } from "./jsonata-core.mjs";
import { UserCodeLimitError } from "./limits.mjs";
import { UserCodeWorkerPool } from "./worker-pool";

export { DEFAULT_MAX_DEPTH, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from "../../sdk/user-code";
/**
 * How long an evaluation may run on the runtime's thread before it continues in a worker: long
 * enough for nearly every per-message transform, short enough that a runaway leaves the
 * runtime's thread (and the CPU a neighbour's requests need) soon.
 */
export const INLINE_MS = 10;
export const WORKER_MEMORY_MB = 256;
/** Evaluations in a row within INLINE_MS after which an expression that ran away runs on the runtime's thread again. */
export const WELL_BEHAVED_RUNS = 20;

let workers: UserCodeWorkerPool | undefined;
function workerPool(): UserCodeWorkerPool {
  workers ??= new UserCodeWorkerPool({
    module: path.join(PROJECT_ROOT, "runtime", "user-code", "jsonata-worker.mjs"),
    memoryMb: WORKER_MEMORY_MB,
    what: "JSONata expression",
  });
  return workers;
}

export class LimitedJsonata {
  private readonly inline: CompiledLimited;

  /**
   * Set when an evaluation of this expression ran over INLINE_MS or into the depth or time
   * limit: the next ones go straight to the worker, so the same runaway sent again and again
   * (a client retrying, a replay) costs the runtime's thread nothing. Cleared after
   * WELL_BEHAVED_RUNS in a row answered within INLINE_MS.
   */
  private offThread = false;
  private wellBehaved = 0;

  /** Compiles once (throws jsonata's syntax error); evaluate() as often as needed. */
  constructor(
    readonly source: string,
    readonly limits: JsonataLimits,
  ) {
    this.inline = compileLimited(source, { overrunMs: INLINE_MS });
  }

  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown> {
    const started = performance.now();
    if (this.inline.needsWorker || this.offThread) return this.inWorker(input, bindings, started);
    return this.inline.evaluate(input, bindings, this.limits).catch((thrown: unknown) => {
      const err = asLimitError(thrown);
      if (err instanceof MoveToWorker || (err instanceof UserCodeLimitError && (err.limit === "depth" || err.limit === "time"))) this.offThread = true;
      if (err instanceof MoveToWorker) return this.inWorker(input, bindings, started);
      throw err;
    });
  }

  private inWorker(input: unknown, bindings: Record<string, unknown> | undefined, started: number): Promise<unknown> {
    const leftMs = Math.max(0, started + this.limits.timeoutMs - performance.now());
    const limits = { timeoutMs: leftMs, label: this.limits.timeoutMs, maxDepth: this.limits.maxDepth };
    const running = workerPool().run({ source: this.source, input, bindings, limits }, leftMs, this.limits.timeoutMs);
    if (!this.offThread) return running;
    return running.then(
      (value) => {
        if (performance.now() - started > INLINE_MS) this.wellBehaved = 0;
        else if (++this.wellBehaved >= WELL_BEHAVED_RUNS) this.offThread = false;
        return value;
      },
      (err: unknown) => {
        this.wellBehaved = 0;
        throw err;
      },
    );
  }
}
