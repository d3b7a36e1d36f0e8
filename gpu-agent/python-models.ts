/**
 * The `python` backend: `sklearn` and `python` models, each resident model in Python workers of
 * its own (python/pool.ts running python/models.py). A worker's process is the model's whole
 * cost, so its RSS is what the host accounts (`memoryBytes`), and evicting the model ends it:
 * the memory goes back to the machine, which an unloaded ONNX session in the agent's own heap
 * does not promise.
 *
 * Loading either format runs the artifact's code (a pickle names what to call; model.py is
 * code), so the backend loads nothing unless made with `allowExec` (`evoflow agent --allow-exec`,
 * or a runtime that grants `exec`).
 */
import path from "node:path";
import { createPythonWorkers } from "../python/pool";
import { WORKER_SCRIPT } from "../python/worker-process";
import { PythonError, type PythonPool, type PythonWorkers } from "../sdk/python";
import { DTYPES, isTensor, type DType, type Tensor } from "../sdk/ports";
import { EXEC_FORMATS, type ModelFormat } from "../sdk/registry";
import type { Backend, Inspection, LoadedModel, LoadRequest } from "./backend";
import { ExecNotAllowedError } from "./artifact-cache";
import type { TensorSpec } from "./tensors";

const MODELS_SCRIPT = path.join(path.dirname(WORKER_SCRIPT), "models.py");

export interface PythonModelsOptions {
  /** Loading these formats runs code: without this, every load and inspection is refused. */
  allowExec: boolean;
  /** Default python3 (or EVOFLOW_PYTHON where the caller passes it). */
  interpreter?: string;
  /** Worker processes per resident model (default 1: each holds its own copy of the model). */
  workersPerModel?: number;
  /** Longest one predict call may take; past it the worker is replaced and the request fails (default 60 s). */
  timeoutMs?: number;
  log?: (message: string) => void;
}

export class PythonModelsBackend implements Backend {
  readonly kind = "python";
  readonly device = "cpu";
  readonly formats: readonly ModelFormat[] = EXEC_FORMATS;
  private readonly workers: PythonWorkers;
  private readonly pools = new Set<PythonPool>();

  constructor(private readonly options: PythonModelsOptions) {
    this.workers = createPythonWorkers({ interpreter: options.interpreter });
  }

  private check(format: ModelFormat, key: string): void {
    if (!this.formats.includes(format)) throw new Error(`the python backend loads ${this.formats.join(", ")} models, not ${format}`);
    if (!this.options.allowExec)
      throw new ExecNotAllowedError(`model ${key} is a ${format} model, and loading one runs its code: this agent does not allow exec (start it with --allow-exec, or grant the runtime exec)`);
  }

  private async start(key: string, format: ModelFormat, artifactPath: string, workers: number): Promise<PythonPool> {
    const pool = this.workers.pool({
      source: { file: MODELS_SCRIPT },
      function: "serve",
      setup: { function: "load", argument: { format, path: artifactPath, dir: path.join(path.dirname(artifactPath), "model") } },
      workers,
      timeoutMs: this.options.timeoutMs ?? 60_000,
      pipeline: "agent",
      node: key,
      log: (level, line) => this.options.log?.(`${key}: ${line}`),
    });
    try {
      await pool.start();
    } catch (err) {
      throw err instanceof PythonError && err.traceback ? new Error(`${err.message}\n${err.traceback}`) : err;
    }
    this.pools.add(pool);
    return pool;
  }

  private async stop(pool: PythonPool): Promise<void> {
    this.pools.delete(pool);
    await pool.close();
  }

  /** Loads the model in a worker of its own, asks it for its signature and measures the worker: a load as any other, then ended. */
  async inspect(format: ModelFormat, artifactPath: string): Promise<Inspection> {
    const key = path.basename(path.dirname(path.dirname(artifactPath))) + "@" + path.basename(path.dirname(artifactPath));
    this.check(format, key);
    const pool = await this.start(key, format, artifactPath, 1);
    try {
      const { value } = await call(pool, { describe: true });
      const sig = value as { inputs: unknown; outputs: unknown };
      return { inputs: specs(sig.inputs, "inputs"), outputs: specs(sig.outputs, "outputs"), memoryBytes: sum(pool.rssBytes()) };
    } finally {
      await this.stop(pool);
    }
  }

  async load(request: LoadRequest): Promise<LoadedModel> {
    this.check(request.format, request.key);
    const pool = await this.start(request.key, request.format, request.artifactPath, this.options.workersPerModel ?? 1);
    return {
      run: async (inputs, outputs) => {
        const { value } = await call(pool, { inputs, outputs: outputs ?? null });
        return tensors(value, request.key);
      },
      unload: () => this.stop(pool),
      memoryBytes: () => sum(pool.rssBytes()) || undefined,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools].map((p) => this.stop(p)));
  }
}

async function call(pool: PythonPool, payload: unknown) {
  try {
    return await pool.call(payload);
  } catch (err) {
    // The model's own traceback: it is the only clue to a bad input the signature let through.
    throw err instanceof PythonError && err.traceback ? new Error(`${err.message}\n${err.traceback}`) : err;
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function specs(list: unknown, what: string): TensorSpec[] {
  if (!Array.isArray(list)) throw new Error(`the model's ${what} are not a list`);
  return list.map((s: { name?: unknown; dtype?: unknown; shape?: unknown }, i) => {
    if (typeof s?.name !== "string" || !(DTYPES as readonly unknown[]).includes(s.dtype) || !Array.isArray(s.shape) || !s.shape.every((d) => Number.isInteger(d) && d >= -1))
      throw new Error(`the model's ${what}[${i}] must be {name, dtype (one of ${DTYPES.join(", ")}), shape}, got ${JSON.stringify(s)}`);
    return { name: s.name, dtype: s.dtype as DType, shape: s.shape as number[] };
  });
}

function tensors(value: unknown, key: string): Record<string, Tensor> {
  if (typeof value !== "object" || value === null) throw new Error(`model ${key} answered ${JSON.stringify(value)}, not a dict of arrays`);
  for (const [name, t] of Object.entries(value)) if (!isTensor(t)) throw new Error(`model ${key}'s output "${name}" is not a numpy array`);
  return value as Record<string, Tensor>;
}
