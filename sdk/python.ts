/**
 * The runtime's Python workers (`ctx.service("python")`): long-lived interpreter processes a
 * node (python.function; later the agent's sklearn/python models and trainer.sklearn) keeps in
 * a pool of its own size. Each worker loads one file or piece of code once and then answers
 * calls of one function in it. Payloads cross as JSON with tensors and bytes as binary frames,
 * arriving in Python as numpy arrays and `bytes` (python/frames.ts, python/worker.py).
 */

/** What every worker of a pool loads when it starts. */
export type PythonSource =
  /** A Python file (an absolute path: resolve a config path first); its folder goes first on sys.path. */
  | { file: string }
  /** Code given inline; `filename` is what its tracebacks name. */
  | { code: string; filename: string };

export interface PythonPoolOptions {
  source: PythonSource;
  /** The function each call runs: `function(payload, ctx)`. */
  function: string;
  /**
   * A function of the source each worker calls once after loading, `function(argument, ctx)`,
   * before any call (a model loaded into `ctx.state`; a worker replaced runs it again). An
   * exception fails the load as an import error does.
   */
  setup?: { function: string; argument?: unknown };
  /** Processes in the pool, each handling one call at a time. */
  workers: number;
  /** How long one call may take; past it the worker is killed, replaced, and the call fails with kind "time". */
  timeoutMs: number;
  /** Given to the Python side as ctx.pipeline and ctx.node, and named in errors. */
  pipeline: string;
  node: string;
  /** Where the worker's own output (print, warnings) goes, a line at a time. */
  log?(level: "info" | "warn", line: string): void;
}

/** A call that did not return: the function raised, the worker died, or the time limit ended it. */
export class PythonError extends Error {
  override name = "PythonError";
  constructor(
    message: string,
    readonly kind: "exception" | "died" | "time" | "load",
    /** The Python traceback (or the end of the worker's stderr when it died). */
    readonly traceback?: string,
    /** For kind "load": the module an `import` did not find. */
    readonly missingModule?: string,
  ) {
    super(message);
  }
}

export interface PythonPoolStatus {
  workers: number;
  /** Processes running and loaded. */
  up: number;
  busy: number;
  queued: number;
  /** Workers replaced after dying or running out of time. */
  restarts: number;
  /** The last call's failure (its reason and traceback), until a call succeeds. */
  lastError?: string;
}

/** What a call returned: `value` is the payload (numpy arrays as tensors, `bytes` as Uint8Array). */
export interface PythonResult {
  value: unknown;
}

export interface PythonPool {
  /** Starts every worker and loads the source: rejects with a PythonError (kind "load", naming a missing module) if it does not load. */
  start(): Promise<void>;
  call(payload: unknown): Promise<PythonResult>;
  status(): PythonPoolStatus;
  /** Process ids of the running workers. */
  pids(): number[];
  /** Resident memory of each running worker, bytes (Linux /proc; empty elsewhere). */
  rssBytes(): number[];
  /** Ends every worker; calls waiting fail. */
  close(): Promise<void>;
}

export interface PythonWorkers {
  /** The interpreter started (settings' "python", default `python3`). */
  readonly interpreter: string;
  pool(options: PythonPoolOptions): PythonPool;
}
