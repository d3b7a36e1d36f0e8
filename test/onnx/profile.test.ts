import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildMlp } from "../../onnx/build";
import { FsModelRegistry } from "../../runtime/registry/fs";
import type { ModelProfile } from "../../sdk/registry";
import { makeMlp } from "../fixtures/mlp";
import { percentile, profileModel, profileRegisteredModel, type ProfileProgress } from "../../onnx/profile";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "evoflow-profile-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectSaneProfile(profile: ModelProfile, batchSizes: number[]): void {
  expect(profile.results.map((r) => r.batchSize)).toEqual(batchSizes);
  expect(profile.executionProvider).toBe("cpu");
  expect(profile.runtime).toMatch(/^onnxruntime-node/);
  expect(profile.loadMs).toBeGreaterThan(0);
  expect(profile.host.cpus).toBeGreaterThan(0);
  for (const r of profile.results) {
    expect(Number.isFinite(r.throughput) && r.throughput > 0).toBe(true);
    const { mean, p50, p95, p99, max } = r.latencyMs;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p95);
    expect(p95).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(max);
    expect(mean).toBeLessThanOrEqual(max);
    // Throughput counts whole batches over the elapsed time, which is at least the sum of the latencies.
    expect(r.throughput).toBeLessThanOrEqual((r.batchSize * 1000) / mean + 1e-6);
    expect(r.memory.peakRssBytes).toBeGreaterThan(0);
    expect(r.cpu.seconds).toBeGreaterThanOrEqual(0);
    expect(r.cpu.utilisation).toBeGreaterThanOrEqual(0);
  }
}

describe("profiler", () => {
  it("takes nearest-rank percentiles", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(values, 50), percentile(values, 95), percentile(values, 99), percentile(values, 100)]).toEqual([50, 95, 99, 100]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
  });

  it("profiles each batch size with warm-up excluded and reports progress up to 1", async () => {
    const progress: ProfileProgress[] = [];
    const batchSizes = [1, 4, 16];
    const profile = await profileModel(makeMlp({ sizes: [64, 128, 10], softmax: true }).bytes, {
      batchSizes,
      durationSeconds: 0.1,
      warmupBatches: 3,
      minBatches: 5,
      onProgress: (p) => progress.push(p),
    });
    expectSaneProfile(profile, batchSizes);
    expect(profile.warmupBatches).toBe(3);
    for (const r of profile.results) expect(r.batches).toBeGreaterThanOrEqual(5);
    const fractions = progress.map((p) => p.fraction);
    expect(fractions.every((f, i) => i === 0 || f >= fractions[i - 1])).toBe(true);
    expect(fractions.at(-1)).toBe(1);
  });

  it("times exactly minBatches with no duration and stops at maxBatches with a long one", async () => {
    const bytes = makeMlp({ sizes: [8, 4] }).bytes;
    const short = await profileModel(bytes, { batchSizes: [2], durationSeconds: 0, minBatches: 9, warmupBatches: 0 });
    expect(short.results[0].batches).toBe(9);
    const bounded = await profileModel(bytes, { batchSizes: [2, 3], durationSeconds: 3600, maxBatches: 12 });
    expect(bounded.results.map((r) => r.batches)).toEqual([12, 12]);
  });

  it("refuses batch sizes a model with a fixed batch dimension cannot run", async () => {
    const fixed = buildMlp({ inputSize: 3, batch: 1, layers: [{ weights: [1, 2, 3, 4, 5, 6], bias: [0, 0] }] });
    await expect(profileModel(fixed, { batchSizes: [1, 8], durationSeconds: 0, minBatches: 1 })).rejects.toThrow(/fixed batch dimension of 1: it cannot run batches of 8/);
    await expect(profileModel(fixed, { batchSizes: [0] })).rejects.toThrow(/positive integers/);
  });

  it("stores the profile in the registry version", async () => {
    const registry = new FsModelRegistry(path.join(dir, "api"));
    await registry.register({ name: "mlp", artifact: makeMlp({ sizes: [16, 32, 4] }).bytes });
    const { version, profile } = await profileRegisteredModel(registry, "mlp", "latest", { batchSizes: [1, 2], durationSeconds: 0, minBatches: 10 });
    expect(version.version).toBe(1);
    expect((await registry.get("mlp", 1))?.profile).toEqual(profile);
    await expect(profileRegisteredModel(registry, "mlp", "champion")).rejects.toThrow(/model "mlp" has no champion version/);
    await registry.close();
  });

  it("runs as `evoflow profile` and stores what it prints", async () => {
    const registryDir = path.join(dir, "cli");
    const registry = new FsModelRegistry(registryDir);
    await registry.register({ name: "cli-mlp", artifact: makeMlp({ sizes: [10, 20, 3], softmax: true }).bytes });
    const cli = (args: string[]) => run(process.execPath, [path.join(root, "bin/evoflow.js"), "profile", ...args, "--registry", registryDir], { cwd: root });

    const { stdout } = await cli(["cli-mlp@1", "--batch", "1,8", "--duration", "0.05", "--warmup", "2", "--json"]);
    const printed = JSON.parse(stdout) as { name: string; version: number; profile: ModelProfile };
    expect(printed.name).toBe("cli-mlp");
    expectSaneProfile(printed.profile, [1, 8]);
    expect((await registry.get("cli-mlp", 1))?.profile).toEqual(printed.profile);

    const table = await cli(["cli-mlp", "--batch", "2", "--duration", "0.05"]);
    expect(table.stdout.split("\n")[1].split(/\s+/).slice(0, 3)).toEqual(["batch", "batches", "examples/s"]);
    expect(table.stdout).toMatch(/^2 +\d+ +\d+ /m);

    await expect(cli(["cli-mlp@1", "--batch", "1,x"])).rejects.toMatchObject({ stderr: expect.stringMatching(/--batch wants positive integers/) });
    await expect(cli(["missing@1"])).rejects.toMatchObject({ stderr: 'error: no version 1 of model "missing"\n' });
    await registry.close();
  }, 180_000); // four CLI spawns: about a second each on an idle machine, several under load
});
