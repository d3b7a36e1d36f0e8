/**
 * Model profiler (after MLModelCI): per batch size, run the model on onnxruntime-node with
 * warm-up batches excluded, then measure throughput (batch × batches / elapsed), per-batch
 * latency percentiles and the process's resident memory. Used by `evoflow profile` and by
 * the validator gate for latency budgets.
 */
import * as os from "node:os";
import { performance } from "node:perf_hooks";
import { ort, type Ort } from "./ort";
import { readSignature, type TensorSignature } from "./signature";
import type { ModelRegistry, ModelProfile, ModelVersion, BatchProfile, VersionRef } from "../sdk/registry";
import { RegistryError } from "../sdk/registry";

export interface ProfileOptions {
  /** Batch sizes to measure, in order (default 1, 2, 4, 8, 16, 32). */
  batchSizes?: number[];
  /** Timed seconds per batch size (default 2); at least `minBatches` are timed whatever the duration. */
  durationSeconds?: number;
  /** Batches run and discarded before timing, per batch size (default 5). */
  warmupBatches?: number;
  /** Fewest timed batches per batch size (default 20, so p99 means something). */
  minBatches?: number;
  /** Most timed batches per batch size (default unlimited), to bound short profiles in tests. */
  maxBatches?: number;
  /** onnxruntime execution providers, in order of preference (default ["cpu"]). */
  executionProviders?: string[];
  intraOpNumThreads?: number;
  /** Sizes for dynamic dimensions other than the batch one, by name (default 1). */
  dims?: Record<string, number>;
  onProgress?: (progress: ProfileProgress) => void;
}

export interface ProfileProgress {
  batchSize: number;
  /** 0…1 over the whole profile. */
  fraction: number;
  /** Batches timed so far at this batch size. */
  batches: number;
}

export const DEFAULT_BATCH_SIZES = [1, 2, 4, 8, 16, 32];

/** Nearest-rank percentile of ascending values (a few lines; no statistics package is among the dependencies). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** One batch size's figures from its timed runs: latencies and wall time in ms, the process's CPU seconds and RSS over them. */
export function batchProfile(batchSize: number, latencies: number[], elapsedMs: number, cpuSeconds: number, memory: BatchProfile["memory"]): BatchProfile {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    batchSize,
    batches: latencies.length,
    throughput: (batchSize * latencies.length) / (elapsedMs / 1000),
    latencyMs: {
      mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1],
    },
    memory,
    cpu: { seconds: cpuSeconds, utilisation: cpuSeconds / (elapsedMs / 1000) },
  };
}

export function inputTensor(input: TensorSignature, batchSize: number, dims: Record<string, number>): Ort.Tensor {
  if (input.kind !== "tensor" || !input.dtype) throw new Error(`input "${input.name}" is a ${input.kind}: only tensor inputs can be profiled`);
  if (!input.shape) throw new Error(`input "${input.name}" has no shape in the model (not even a rank): the profiler cannot make inputs for it`);
  const shape = input.shape.map((d, i) => {
    if (i === 0) {
      if (d !== -1 && d !== batchSize) throw new Error(`input "${input.name}" has a fixed batch dimension of ${d}: it cannot run batches of ${batchSize}`);
      return batchSize;
    }
    return d === -1 ? (dims[input.dimNames?.[i] ?? ""] ?? 1) : d;
  });
  const count = shape.reduce((a, b) => a * b, 1);
  // Values in [-1, 1]: the shape and dtype are what matter for speed; the values only keep the maths finite.
  const wave = (i: number) => Math.sin(i);
  switch (input.dtype) {
    case "float32":
      return new ort.Tensor("float32", Float32Array.from({ length: count }, (_, i) => wave(i)), shape);
    case "float64":
      return new ort.Tensor("float64", Float64Array.from({ length: count }, (_, i) => wave(i)), shape);
    case "int32":
      return new ort.Tensor("int32", new Int32Array(count), shape);
    case "int64":
      return new ort.Tensor("int64", new BigInt64Array(count), shape);
    case "uint8":
      return new ort.Tensor("uint8", new Uint8Array(count), shape);
    case "int8":
      return new ort.Tensor("int8", new Int8Array(count), shape);
    case "bool":
      return new ort.Tensor("bool", new Uint8Array(count), shape);
    default:
      throw new Error(`input "${input.name}" has dtype ${input.dtype}, which the profiler cannot generate yet`);
  }
}

/** Profiles the ONNX model in `bytes`. */
export async function profileModel(bytes: Uint8Array, options: ProfileOptions = {}): Promise<ModelProfile> {
  const batchSizes = options.batchSizes ?? DEFAULT_BATCH_SIZES;
  if (!batchSizes.length || batchSizes.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`batch sizes must be positive integers, got ${batchSizes.join(",")}`);
  const durationSeconds = options.durationSeconds ?? 2;
  const warmupBatches = options.warmupBatches ?? 5;
  const minBatches = options.minBatches ?? 20;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  const executionProviders = options.executionProviders ?? ["cpu"];
  const signature = readSignature(bytes);

  const rssBeforeLoad = process.memoryUsage.rss();
  const loadStart = performance.now();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders,
    graphOptimizationLevel: "all",
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  });
  const loadMs = performance.now() - loadStart;
  const loadRssDeltaBytes = process.memoryUsage.rss() - rssBeforeLoad;

  const results: BatchProfile[] = [];
  try {
    for (const [index, batchSize] of batchSizes.entries()) {
      const feeds = Object.fromEntries(signature.inputs.map((input) => [input.name, inputTensor(input, batchSize, options.dims ?? {})]));
      for (let i = 0; i < warmupBatches; i++) await session.run(feeds);

      const rssStart = process.memoryUsage.rss();
      let peakRss = rssStart;
      const latencies: number[] = [];
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      let elapsed = 0;
      // Memory sampling and progress reports cost a syscall and a redraw: a few per 10 ms keeps them out of the figures for small models.
      let lastSample = start;
      while (latencies.length < maxBatches && (elapsed < durationSeconds * 1000 || latencies.length < minBatches)) {
        const t0 = performance.now();
        await session.run(feeds);
        const t1 = performance.now();
        latencies.push(t1 - t0);
        elapsed = t1 - start;
        if (t1 - lastSample >= 10) {
          lastSample = t1;
          peakRss = Math.max(peakRss, process.memoryUsage.rss());
          options.onProgress?.({ batchSize, batches: latencies.length, fraction: (index + Math.min(1, elapsed / (durationSeconds * 1000))) / batchSizes.length });
        }
      }
      const cpuUsed = process.cpuUsage(cpuStart);
      const cpuSeconds = (cpuUsed.user + cpuUsed.system) / 1e6;
      const rssEnd = process.memoryUsage.rss();
      peakRss = Math.max(peakRss, rssEnd);
      results.push(batchProfile(batchSize, latencies, elapsed, cpuSeconds, { rssDeltaBytes: rssEnd - rssStart, peakRssBytes: peakRss }));
      options.onProgress?.({ batchSize, batches: latencies.length, fraction: (index + 1) / batchSizes.length });
    }
  } finally {
    await session.release();
  }

  const cpus = os.cpus();
  return {
    runtime: `onnxruntime-node ${ort.env.versions.node ?? ""}`.trim(),
    executionProvider: executionProviders.join(","),
    warmupBatches,
    durationSeconds,
    loadRssDeltaBytes,
    loadMs,
    results,
    host: { platform: process.platform, arch: process.arch, cpus: cpus.length, cpuModel: cpus[0]?.model ?? "unknown", node: process.version },
    createdAt: new Date().toISOString(),
  };
}

/** Profiles a registered version and stores the result in its record. */
export async function profileRegisteredModel(
  registry: ModelRegistry,
  name: string,
  ref: VersionRef,
  options: ProfileOptions = {},
): Promise<{ version: ModelVersion; profile: ModelProfile }> {
  const target = await registry.get(name, ref);
  if (!target) throw new RegistryError("not_found", typeof ref === "number" ? `no version ${ref} of model "${name}"` : `model "${name}" has no ${ref} version`);
  const profile = await profileModel(await registry.readArtifact(name, target.version), options);
  const version = await registry.putProfile(name, target.version, profile);
  return { version, profile };
}
