/**
 * The in-process backend: one onnxruntime-node `InferenceSession` per resident model.
 * The execution provider is chosen at run time: CUDA when the machine has an NVIDIA
 * device and this onnxruntime build ships the CUDA provider, CPU otherwise (and CPU
 * again if a CUDA session fails to start).
 */
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { Worker } from "node:worker_threads";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { PROJECT_ROOT } from "../runtime/paths";
import type { DType, Tensor } from "../runtime/ports";
import type { Backend, LoadedModel, LoadRequest } from "./backend";

function machineHasNvidiaGpu(): boolean {
  if (existsSync("/dev/nvidia0")) return true;
  try {
    execFileSync("nvidia-smi", ["-L"], { stdio: "ignore", timeout: 3000 });
    return true;
  } catch {
    return false;
  }
}

/** "cuda" when both the device and the provider are there, else "cpu". */
export function chooseExecutionProvider(): "cuda" | "cpu" {
  const providers = ort.listSupportedBackends().map((b) => b.name);
  return providers.includes("cuda") && machineHasNvidiaGpu() ? "cuda" : "cpu";
}

export function toOrtTensor(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data as ort.Tensor["data"], t.shape);
}

export function fromOrtTensor(t: ort.Tensor): Tensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: t.data as Tensor["data"] };
}

export interface OnnxRuntimeOptions {
  /** Force a provider; chosen from the machine when absent. */
  executionProvider?: "cuda" | "cpu";
  /**
   * Threads per session for one operator (onnxruntime's intra-op pool). Default 1: an
   * agent holds many sessions, and a pool per session multiplies threads by resident
   * models and makes loads and unloads slow (measured here for a 6 MB MLP: create
   * ~2.5× slower, release 12–35 ms instead of 0.2 ms, as the pool's threads start and
   * join). Raise it for a few large models on many cores; 0 means onnxruntime's default.
   */
  intraOpThreads?: number;
  /**
   * Sessions live in this many worker threads instead of the event loop's thread
   * (0, the default: in the main thread). onnxruntime-node creates and runs sessions
   * synchronously on its calling thread, so in the main thread a 20 ms load stalls every
   * other request; in workers, requests to resident models keep flowing while one loads,
   * for the cost of copying tensors to and from the worker (tens of microseconds).
   */
  workers?: number;
  log?: (message: string) => void;
}

/** A worker thread (gpu-agent/ort-worker.mjs) and its calls in flight. */
class SessionWorker {
  private readonly worker = new Worker(path.join(PROJECT_ROOT, "gpu-agent", "ort-worker.mjs"));
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 0;
  models = 0;

  constructor() {
    this.worker.unref();
    this.worker.on("message", (m: { id: number; result?: unknown; error?: string }) => {
      const call = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== undefined) call?.reject(new Error(m.error));
      else call?.resolve(m.result);
    });
    this.worker.on("error", (err) => {
      for (const call of this.pending.values()) call.reject(err);
      this.pending.clear();
    });
  }

  call<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Typed arrays are copied, not transferred: the caller's tensors stay intact (taps and traces hold them).
      this.worker.postMessage({ ...message, id });
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class OnnxRuntimeBackend implements Backend {
  readonly kind = "onnxruntime";
  device: "cuda" | "cpu";

  constructor(private readonly options: OnnxRuntimeOptions = {}) {
    this.device = options.executionProvider ?? chooseExecutionProvider();
  }

  /** The session options every load uses (also for comparisons in bench/). */
  sessionOptions(provider: "cuda" | "cpu" = this.device): ort.InferenceSession.SessionOptions {
    const intraOp = this.options.intraOpThreads ?? 1;
    return {
      executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
      ...(intraOp > 0 ? { intraOpNumThreads: intraOp } : {}),
    };
  }

  private pool?: SessionWorker[];

  /** The worker with the fewest models, the pool started on first use. */
  private workerForLoad(): SessionWorker {
    this.pool ??= Array.from({ length: this.options.workers! }, () => new SessionWorker());
    return this.pool.reduce((best, w) => (w.models < best.models ? w : best));
  }

  private async loadInWorker(request: LoadRequest): Promise<LoadedModel> {
    const worker = this.workerForLoad();
    const key = request.key;
    worker.models++;
    try {
      await worker.call({ type: "load", key, path: request.artifactPath, options: this.sessionOptions() });
    } catch (err) {
      worker.models--;
      throw err;
    }
    return {
      run: (inputs, outputs) => worker.call<Record<string, Tensor>>({ type: "run", key, inputs, outputs }),
      unload: async () => {
        worker.models--;
        await worker.call({ type: "unload", key });
      },
    };
  }

  async load(request: LoadRequest): Promise<LoadedModel> {
    if (this.options.workers && this.options.workers > 0) return this.loadInWorker(request);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(request.artifactPath, this.sessionOptions(this.device));
    } catch (err) {
      if (this.device !== "cuda") throw err;
      this.options.log?.(`CUDA session for ${request.key} failed (${(err as Error).message}); using CPU from now on`);
      this.device = "cpu";
      session = await ort.InferenceSession.create(request.artifactPath, this.sessionOptions("cpu"));
    }
    return {
      async run(inputs, outputs) {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(inputs)) feeds[name] = toOrtTensor(t);
        const results = outputs?.length ? await session.run(feeds, outputs) : await session.run(feeds);
        const out: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(results)) out[name] = fromOrtTensor(t as ort.Tensor);
        return out;
      },
      unload: () => session.release(),
    };
  }

  async close(): Promise<void> {
    for (const w of this.pool ?? []) await w.terminate();
    this.pool = undefined;
  }
}
