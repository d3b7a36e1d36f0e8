/**
 * `evoflow profile NAME[@VERSION]`: throughput, latency percentiles and memory per batch size,
 * printed as a table and stored in the registry version's profile.
 */
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { DEFAULT_BATCH_SIZES, profileRegisteredModel } from "../../onnx/profile";
import { parseModelRef, RegistryError } from "../../sdk/registry";
import type { ModelProfile } from "../../sdk/registry";
import { formatBytes, formatTable, REGISTRY_OPTION, withRegistry } from "./model";

function parseBatchSizes(text: string): number[] {
  const sizes = text.split(",").map((s) => Number(s.trim()));
  if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new RegistryError("invalid", `--batch wants positive integers separated by commas, got "${text}"`);
  return sizes;
}

function parsePositive(text: string, option: string, integer = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new RegistryError("invalid", `${option} wants a ${integer ? "whole " : ""}number ≥ 0, got "${text}"`);
  return n;
}

export function formatProfile(profile: ModelProfile): string {
  return formatTable(
    ["batch", "batches", "examples/s", "p50 ms", "p95 ms", "p99 ms", "CPU", "RSS Δ", "peak RSS"],
    profile.results.map((r) => [
      String(r.batchSize),
      String(r.batches),
      r.throughput.toFixed(0),
      r.latencyMs.p50.toFixed(3),
      r.latencyMs.p95.toFixed(3),
      r.latencyMs.p99.toFixed(3),
      `${Math.round(r.cpu.utilisation * 100)}%`,
      `${r.memory.rssDeltaBytes < 0 ? "-" : ""}${formatBytes(Math.abs(r.memory.rssDeltaBytes))}`,
      formatBytes(r.memory.peakRssBytes),
    ]),
  );
}

export function register(program: Command): void {
  program
    .command("profile")
    .description("profile a registered model on onnxruntime-node per batch size (warm-up excluded) and store the results in the registry")
    .argument("<ref>", "NAME (latest version), NAME@VERSION or NAME@champion")
    .option("--batch <sizes>", "batch sizes, comma-separated", DEFAULT_BATCH_SIZES.join(","))
    .option("--duration <seconds>", "timed seconds per batch size", "2")
    .option("--warmup <batches>", "warm-up batches per batch size, not timed", "5")
    .option("--provider <names>", "onnxruntime execution providers in order of preference, comma-separated", "cpu")
    .option("--threads <n>", "onnxruntime intra-op threads (default: onnxruntime's choice)")
    .option("--json", "print the profile as JSON")
    .option(...REGISTRY_OPTION)
    .action(async (ref: string, opts: { batch: string; duration: string; warmup: string; provider: string; threads?: string; json?: boolean; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        const { name, ref: versionRef } = parseModelRef(ref, "latest");
        const batchSizes = parseBatchSizes(opts.batch);
        // The bar goes to stderr so that stdout stays a clean table or JSON document.
        const bar = new cliProgress.SingleBar(
          { format: "profiling {model} [{bar}] {percentage}% | batch {batchSize}", stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(100, 0, { model: ref, batchSize: batchSizes[0] });
        try {
          const { version, profile } = await profileRegisteredModel(registry, name, versionRef, {
            batchSizes,
            durationSeconds: parsePositive(opts.duration, "--duration"),
            warmupBatches: parsePositive(opts.warmup, "--warmup", true),
            executionProviders: opts.provider.split(",").map((p) => p.trim()).filter(Boolean),
            intraOpNumThreads: opts.threads === undefined ? undefined : Math.max(1, parsePositive(opts.threads, "--threads", true)),
            onProgress: (p) => bar.update(Math.round(p.fraction * 100), { batchSize: p.batchSize }),
          });
          bar.stop();
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ name: version.name, version: version.version, profile }, null, 2)}\n`);
            return;
          }
          process.stdout.write(`${version.name}@${version.version} on ${profile.runtime} (${profile.executionProvider}), ${profile.host.cpus} × ${profile.host.cpuModel}; load ${profile.loadMs.toFixed(1)} ms\n`);
          process.stdout.write(formatProfile(profile));
          process.stdout.write(`stored in the registry as the profile of ${version.name}@${version.version}\n`);
        } finally {
          bar.stop();
        }
      }),
    );
}
