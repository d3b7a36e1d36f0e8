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
import { ort, type Ort } from "../onnx/ort";
import { writeFileAtomic } from "../runtime/files";
import { splitWeights } from "../onnx/external-weights";
import { PROJECT_ROOT } from "../runtime/paths";
import type { DType, Tensor } from "../sdk/ports";
import type { Backend, LoadedModel, LoadRequest } from "./backend";
import { IdleClass } from "./idle-class";

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

export function toOrtTensor(t: Tensor): Ort.Tensor {
  return new ort.Tensor(t.dtype, t.data as Ort.Tensor["data"], t.shape);
}

export function fromOrtTensor(t: Ort.Tensor): Tensor {
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
   * Sessions live in up to this many worker threads, started as loads need them,
   * instead of the event loop's thread (0, the default: in the main thread).
   * onnxruntime-node creates and runs sessions synchronously on its calling thread, so
   * in the main thread a 20 ms load stalls every other request; in a worker it stalls
   * the requests to that worker's other sessions. With one worker more than the models
   * that fit, a load never shares a worker with a resident model. Costs: copying tensors
   * to and from the worker (tens of microseconds) and a V8 isolate per worker.
   */
  workers?: number;
  /**
   * Let onnxruntime repack MatMul/Gemm weights into its kernel's layout when a session
   * is created. Packing is most of a load once the weights are mapped (`prepare`):
   * measured here for a 6 MB MLP (512-1024-1024-10), create takes ~1.9 ms with it and
   * ~0.5 ms without; runs of batch 1 take the same time, runs of batch 16 about 2.4
   * times as long without. "auto" (the default) packs unless the host is overcommitted:
   * an agent that swaps loads hundreds of times a second under skewed traffic, and
   * unpacked loads doubled the requests it served in bench/agent-overcommit.ts.
   */
  prepackWeights?: boolean | "auto";
  /**
   * onnxruntime's CPU memory arena and memory pattern (its plan of a run's buffers, made
   * on the first runs). "auto" (the default) keeps them unless the host is overcommitted:
   * in an agent that swaps, a session's arena is allocated and freed at every swap-in
   * and eviction, and memory an idle session's arena holds is not in the model's budget.
   * In bench/agent-overcommit.ts the resident p99 was 1.23–1.33× the all-resident one
   * without them against 1.28–1.41× with them (three agents each way over two runs; one
   * run's difference is within its noise) at the same throughput, and the peak RSS ~20 MB
   * lower; with onnxruntime's telemetry off, 1.03–1.10× against 1.06–1.22× (two agents
   * without, three with, in one run), and 1.21–1.29× against 1.17–1.37× over three runs.
   * Batch-1 runs take a malloc per intermediate tensor instead.
   */
  memoryArena?: boolean | "auto";
  /**
   * CPU priority of a load in a session worker, the thread's priority restored after it.
   * "idle" (default): Linux's idle scheduling class (gpu-agent/idle-class.ts) for up to
   * `idleLoadLimitMs`, then nice 19; the class lasts until the model's first run is done
   * (loadAtLowPriority). A thread in the class gets a core only when no other
   * thread wants it, and the kernel counts a core running only such a thread as free when
   * it places a waking thread. The class yields to other processes' background work too,
   * hence the limit (bench/agent-background-load.ts).
   * "nice": the load runs at nice 19, a weight of 15 against the 1024 of the threads
   * serving requests to resident models, so they get the cores first (in the overcommit
   * bench less well than "idle": 1.33–1.36× the all-resident p99 against 1.21–1.29× in
   * three runs with onnxruntime's telemetry off), while it keeps a share next to
   * background work.
   * "normal" leaves loads alone. "idle" falls back to "nice" where the class is not
   * available, and "nice" to "normal" where the thread could not raise its priority back
   * (no CAP_SYS_NICE).
   */
  loadPriority?: "idle" | "nice" | "normal";
  /**
   * Longest a load and its model's first run stay in the idle class, from the load's start
   * (default 25 ms); then the load goes on at nice 19. On a machine whose cores something
   * else keeps busy, even niced, an idle-class thread gets almost no CPU (a weight of 3
   * against 110 at nice 10), and the requests waiting for the load would wait with it.
   */
  idleLoadLimitMs?: number;
  log?: (message: string) => void;
}

/** Linux's lowest priority: a weight of 15 against the 1024 of threads at nice 0. */
const LOAD_NICENESS = 19;

/** Recent requests decay with this half-life when choosing where a load goes. */
const TRAFFIC_HALF_LIFE_MS = 1000;

/** A worker thread (gpu-agent/ort-worker.mjs) and its calls in flight. */
class SessionWorker {
  private readonly worker = new Worker(path.join(PROJECT_ROOT, "gpu-agent", "ort-worker.mjs"));
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 0;
  /** Sessions held, loads in progress. */
  models = 0;
  loading = 0;
  /** Releases sent and not yet done: their memory is not free for a load in another worker until they are. */
  readonly releasing = new Set<Promise<unknown>>();
  /** Requests run here lately (exponentially decayed), as of `trafficAt`. */
  private traffic = 0;
  private trafficAt = performance.now();

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

  private tid?: Promise<number>;

  /** The worker's thread id (Linux), for its scheduling class. */
  threadId(): Promise<number> {
    return (this.tid ??= this.call<number>({ type: "thread-id" }));
  }

  recentTraffic(now = performance.now()): number {
    this.traffic *= 0.5 ** ((now - this.trafficAt) / TRAFFIC_HALF_LIFE_MS);
    this.trafficAt = now;
    return this.traffic;
  }

  run(key: string, inputs: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    this.traffic = this.recentTraffic() + 1;
    return this.call({ type: "run", key, inputs, outputs });
  }

  call<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Typed arrays are copied, not transferred: the caller's tensors stay intact (taps and traces hold them).
      // The id beside the call, not spread into it: see withModel in runtime/engine/engine.ts.
      this.worker.postMessage({ id, call: message });
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class OnnxRuntimeBackend implements Backend {
  readonly kind = "onnxruntime";
  private chosen: "cuda" | "cpu" | undefined;

  constructor(private readonly options: OnnxRuntimeOptions = {}) {
    this.chosen = options.executionProvider;
    // Session workers load onnxruntime in their own threads, in the idle class: the library's first
    // load in the process starts a thread of its own, which would stay there. Loaded here first, it starts in ours.
    if (options.workers && options.workers > 0) void ort.env;
  }

  /** Chosen when first asked (a load, the status): asking onnxruntime loads it, which a process that runs no model never needs. */
  get device(): "cuda" | "cpu" {
    return (this.chosen ??= chooseExecutionProvider());
  }

  /** The session options of a load (also for comparisons in bench/); `overcommitted` as in LoadRequest. */
  sessionOptions(provider: "cuda" | "cpu" = this.device, overcommitted = false): Ort.InferenceSession.SessionOptions {
    const intraOp = this.options.intraOpThreads ?? 1;
    const prepack = this.options.prepackWeights ?? "auto";
    const arena = this.options.memoryArena ?? "auto";
    return {
      executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
      ...(intraOp > 0 ? { intraOpNumThreads: intraOp } : {}),
      ...((prepack === "auto" ? overcommitted : !prepack) ? { extra: { session: { disable_prepacking: "1" } } } : {}),
      ...((arena === "auto" ? overcommitted : !arena) ? { enableCpuMemArena: false, enableMemPattern: false } : {}),
    };
  }

  /** Artifact → the split form sessions are created from (onnx/external-weights.ts). */
  private readonly mapped = new Map<string, string>();

  /**
   * Writes the artifact's split form beside where it would be cached (`model.mapped.onnx`
   * and its page-aligned `model.weights`): onnxruntime then maps the weights instead of
   * copying them at every load, and the artifact itself need not be cached. A model that
   * cannot be split (or has no large tensors) loads from its artifact as it is.
   */
  async prepare(artifactPath: string, bytes: Uint8Array): Promise<boolean> {
    const dir = path.dirname(artifactPath);
    const base = path.basename(artifactPath, ".onnx");
    this.mapped.delete(artifactPath);
    try {
      const split = splitWeights(bytes, `${base}.weights`);
      if (split.moved.length === 0) return false;
      // The weights first: the graph refers to them.
      await writeFileAtomic(path.join(dir, `${base}.weights`), split.weights);
      const graphPath = path.join(dir, `${base}.mapped.onnx`);
      await writeFileAtomic(graphPath, split.graph);
      this.mapped.set(artifactPath, graphPath);
      return true;
    } catch (err) {
      this.options.log?.(`${artifactPath}: loads will copy the weights (${(err as Error).message})`);
      return false;
    }
  }

  /** The file sessions are created from. */
  private sessionFile(artifactPath: string): string {
    return this.mapped.get(artifactPath) ?? artifactPath;
  }

  private readonly pool: SessionWorker[] = [];
  /** Started at the first load when `loadPriority` is "idle"; undefined inside where the class is not available. */
  private idleClass?: Promise<IdleClass | undefined>;

  /**
   * Where a load goes. A worker creates a session synchronously, so every request to
   * the other sessions of that worker waits for the whole load: a load goes to an
   * empty worker (a new one while the pool is below `workers`), else to the worker
   * not loading already whose sessions served the fewest requests lately.
   */
  private workerForLoad(): SessionWorker {
    // An empty worker still releasing its last session first: it releases before it loads, with no wait.
    const empty = this.pool.find((w) => w.models === 0 && w.loading === 0 && w.releasing.size > 0) ?? this.pool.find((w) => w.models === 0 && w.loading === 0);
    if (empty) return empty;
    if (this.pool.length < this.options.workers!) {
      const started = new SessionWorker();
      this.pool.push(started);
      return started;
    }
    const now = performance.now();
    let best = this.pool[0];
    for (const w of this.pool) {
      if (w.loading !== best.loading ? w.loading < best.loading : w.recentTraffic(now) < best.recentTraffic(now)) best = w;
    }
    return best;
  }

  /** Sessions held by each worker thread started so far. */
  workerSessions(): number[] {
    return this.pool.map((w) => w.models);
  }

  private async loadInWorker(request: LoadRequest): Promise<LoadedModel> {
    const worker = this.workerForLoad();
    const key = request.key;
    let endLowPriority: (() => Promise<void>) | undefined;
    worker.models++;
    worker.loading++;
    try {
      // Memory being released in another worker is free only once that release is done (in this worker, message order sees to it).
      const elsewhere = this.pool.flatMap((w) => (w === worker ? [] : [...w.releasing]));
      if (elsewhere.length) await Promise.all(elsewhere);
      endLowPriority = await this.loadAtLowPriority(worker, key, this.sessionFile(request.artifactPath), this.sessionOptions(this.device, request.overcommitted));
    } catch (err) {
      worker.models--;
      throw err;
    } finally {
      worker.loading--;
    }
    const endLowPriorityOnce = () => {
      const end = endLowPriority;
      endLowPriority = undefined;
      return end?.();
    };
    return {
      run: async (inputs, outputs) => {
        if (!endLowPriority) return worker.run(key, inputs, outputs);
        try {
          return await worker.run(key, inputs, outputs);
        } finally {
          // Awaited: the model's later requests run at the normal class.
          await endLowPriorityOnce();
        }
      },
      // Resolves once the release is sent, not done: a swap-in (evict, then load) then costs no round trip
      // to the evicted model's worker, and the loads above wait for it wherever that would overlap.
      unload: async () => {
        void endLowPriorityOnce();
        worker.models--;
        // Released at the loads' nice value where loads are niced: freeing a session's memory is work no request waits for.
        const niceness = (this.options.loadPriority ?? "idle") !== "normal" ? LOAD_NICENESS : undefined;
        const released: Promise<unknown> = worker.call({ type: "unload", key, niceness }).catch((err: Error) => this.options.log?.(`releasing ${key} failed: ${err.message}`));
        worker.releasing.add(released);
        void released.then(() => worker.releasing.delete(released));
      },
    };
  }

  /**
   * Loads at `loadPriority`. In the idle class the low priority lasts until the model's
   * first run is done (or `idleLoadLimitMs` after the load began), not only while the
   * session is created: a fresh session's first run costs several times a later one (0.37
   * against 0.07 ms for the 6 MB MLP of bench/agent-overcommit.ts: its mapped weights'
   * pages are touched, its buffers planned), and the runs then are those of requests that
   * waited for the load. There, over two runs, five agents doing this measured a resident
   * p99 of 1.10–1.20× the all-resident one and 1,155–1,247 req/s, five that restored the
   * class after the create 1.16–1.29× and 1,080–1,119 req/s. A worker's other models (where
   * there are fewer workers than models) run in the class meanwhile too, at most until
   * `idleLoadLimitMs` after the load began. Resolves to what ends the low priority (the
   * caller's first run), undefined when nothing is held.
   */
  private async loadAtLowPriority(worker: SessionWorker, key: string, artifactPath: string, options: Ort.InferenceSession.SessionOptions): Promise<(() => Promise<void>) | undefined> {
    const priority = this.options.loadPriority ?? "idle";
    const idle = priority === "idle" ? await (this.idleClass ??= IdleClass.start()) : undefined;
    // At nice 19 also in the idle class: it is the priority the load goes on at after `idleLoadLimitMs`.
    const load = { type: "load", key, path: artifactPath, options, niceness: priority === "normal" ? undefined : LOAD_NICENESS };
    if (!idle) {
      await worker.call(load);
      return undefined;
    }
    const tid = await worker.threadId();
    // Not awaited: the helper takes the request in order, before the restore below.
    const lowered = idle.set(tid, "idle");
    const limit = setTimeout(() => void idle.set(tid, "other").catch(() => undefined), this.options.idleLoadLimitMs ?? 25);
    const restore = async () => {
      clearTimeout(limit);
      await Promise.all([lowered, idle.set(tid, "other")]).catch((err: Error) => this.options.log?.(`scheduling class of the worker loading ${key}: ${err.message}`));
    };
    try {
      await worker.call(load);
    } catch (err) {
      await restore();
      throw err;
    }
    return restore;
  }

  async load(request: LoadRequest): Promise<LoadedModel> {
    if (this.options.workers && this.options.workers > 0) return this.loadInWorker(request);
    const file = this.sessionFile(request.artifactPath);
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, this.sessionOptions(this.device, request.overcommitted));
    } catch (err) {
      if (this.device !== "cuda") throw err;
      this.options.log?.(`CUDA session for ${request.key} failed (${(err as Error).message}); using CPU from now on`);
      this.chosen = "cpu";
      session = await ort.InferenceSession.create(file, this.sessionOptions("cpu", request.overcommitted));
    }
    return {
      async run(inputs, outputs) {
        const feeds: Record<string, Ort.Tensor> = {};
        for (const [name, t] of Object.entries(inputs)) feeds[name] = toOrtTensor(t);
        const results = outputs?.length ? await session.run(feeds, outputs) : await session.run(feeds);
        const out: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(results)) out[name] = fromOrtTensor(t as Ort.Tensor);
        return out;
      },
      unload: () => session.release(),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.pool.flatMap((w) => [...w.releasing]));
    for (const w of this.pool.splice(0)) await w.terminate();
    (await this.idleClass)?.close();
  }
}
