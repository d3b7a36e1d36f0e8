/**
 * The agent's idle profiler on real ONNX MLPs, a real onnxruntime backend and a real fs
 * registry: it profiles unprofiled models while the agent is idle, stays paused (no run at
 * all) under a steady request load, pauses mid-profile when requests come back, resumes and
 * finishes once they stop, keeps to the memory budget, and its profiles are on the model card.
 * Everything waits on states, not on times, so a loaded machine only makes it slower.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { IdleProfiler } from "../../gpu-agent/idle-profiler";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { findModelCard, historyRoot, HistoryStore } from "../../nodes/continual-learning/history";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { makeMlp, type MlpFixture } from "../fixtures/mlp";
import { sampleInput, tempDir } from "./helpers";

const MB = 1024 * 1024;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `workers`: session worker threads, where loads run in the idle class then at nice 19 (load-priority tests). */
async function setup(models: Record<string, MlpFixture>, memoryBytes = 64 * MB, workers = 0) {
  const dir = tempDir("idle-profiler");
  const registry = new FsModelRegistry(join(dir, "registry"));
  for (const [name, mlp] of Object.entries(models)) await registry.register({ name, artifact: mlp.bytes });
  const host = new ModelHost({
    backend: new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1, workers }),
    memoryBytes, cacheDir: join(dir, "cache"), source: LocalModels.registrySource(registry), utilisationWindowMs: 1000,
  });
  closers.push(async () => {
    await host.close();
    await registry.close();
  });
  return { dir, registry, host };
}

function startProfiler(host: ModelHost, registry: FsModelRegistry, extra: Partial<ConstructorParameters<typeof IdleProfiler>[0]> = {}) {
  const profiler = new IdleProfiler({ host, registry, durationMs: 150, minRuns: 20, pollMs: 20, rescanMs: 100, ...extra });
  closers.push(() => profiler.stop());
  profiler.start();
  return profiler;
}

/** Two clients sending batches of 32 back to back: the agent is busy all the time. */
function steadyLoad(host: ModelHost, name: string, mlp: MlpFixture) {
  let on = true;
  const x = { input: { dtype: "float32" as const, shape: [32, mlp.sizes[0]], data: sampleInput(mlp, 32, 1) } };
  const clients = [0, 1].map(async () => {
    while (on) await host.infer(name, 1, x);
  });
  return async () => {
    on = false;
    await Promise.all(clients);
  };
}

describe("idle profiler", () => {
  it("profiles unprofiled models while idle (in session workers) and puts p50/p95/p99 per batch size on the model card", async () => {
    const { dir, registry, host } = await setup({ small: makeMlp({ sizes: [8, 32, 4], seed: 1 }), wide: makeMlp({ sizes: [64, 256, 10], seed: 2 }) }, 64 * MB, 2);
    const profiler = startProfiler(host, registry, { agentId: "gpu0" });
    await until("both models profiled", () => profiler.status().profiled === 2 && profiler.status().state === "idle");
    expect(profiler.status()).toMatchObject({ left: 0, pauses: 0, failed: {} });
    for (const name of ["small", "wide"]) {
      const { profile } = (await registry.get(name, 1))!;
      expect(profile!.results.map((r) => r.batchSize)).toEqual([1, 8, 32]);
      for (const r of profile!.results) {
        expect(r.batches).toBeGreaterThanOrEqual(20);
        expect(0 < r.latencyMs.p50 && r.latencyMs.p50 <= r.latencyMs.p95 && r.latencyMs.p95 <= r.latencyMs.p99).toBe(true);
        expect(r.throughput).toBeGreaterThan(0);
      }
      expect(profile!.measuredBy).toBe("idle profiler of agent gpu0 (utilisation under 40%)");
      // Loaded only to be profiled: unloaded after, so the room is back.
      expect(host.get(name, 1)!.state).toBe("cold");
      const card = await findModelCard(registry, new HistoryStore(historyRoot(dir)), name, 1);
      expect(card!.profile).toEqual(profile);
    }
    // Its own runs are no requests: the agent stayed idle.
    expect(host.status().utilisation).toBe(0);
    expect(host.get("wide", 1)!.requests).toBe(0);
  }, 120_000);

  it("stays paused under a steady load, pauses mid-profile when requests come back, and finishes once idle", async () => {
    const served = makeMlp({ sizes: [64, 256, 10], seed: 3 });
    const { registry, host } = await setup({ served, target: makeMlp({ sizes: [64, 512, 10], seed: 4 }) });
    let stopLoad = steadyLoad(host, "served", served);
    await until("utilisation over 40%", () => host.busy.utilisation() > 0.4);
    const profiler = startProfiler(host, registry, { durationMs: 400 });
    await until("paused", () => profiler.status().state === "paused");
    expect(profiler.status().reason).toMatch(/in flight|utilisation/);
    // Under the load it never runs a model: 50 looks over a second or more.
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      expect(host.busy.utilisation()).toBeGreaterThanOrEqual(0.4);
      expect(profiler.status()).toMatchObject({ state: "paused", runs: 0, profiled: 0 });
    }

    // Requests come back while it is measuring (a load that lands between two models pauses it too, but not mid-profile: then again).
    for (let attempt = 0; profiler.status().pauses === 0; attempt++) {
      expect(attempt).toBeLessThan(3);
      await stopLoad();
      await until("profiling once idle", () => profiler.status().state === "profiling" && profiler.status().runs > 0);
      stopLoad = steadyLoad(host, "served", served);
      await until("paused", () => profiler.status().state === "paused");
    }
    const runsAtPause = profiler.status().runs;
    const profiledAtPause = profiler.status().profiled;
    for (let i = 0; i < 25; i++) {
      await new Promise((r) => setTimeout(r, 20));
      expect(profiler.status()).toMatchObject({ state: "paused", runs: runsAtPause });
    }

    await stopLoad();
    await until("both profiled after the load", () => profiler.status().profiled === 2 && profiler.status().state === "idle");
    expect(profiledAtPause).toBeLessThan(2);
    for (const name of ["served", "target"]) expect((await registry.get(name, 1))!.profile!.results.map((r) => r.batchSize)).toEqual([1, 8, 32]);
    // The served model was resident before: the profiler leaves it so.
    expect(host.get("served", 1)!.state).toBe("resident");
  }, 180_000);

  it("under a light load (utilisation under the threshold) it profiles between requests, pausing for each, and finishes", async () => {
    const served = makeMlp({ sizes: [8, 16, 4], seed: 7 });
    const { registry, host } = await setup({ served, target: makeMlp({ sizes: [64, 256, 10], seed: 8 }) });
    let on = true;
    const x = { input: { dtype: "float32" as const, shape: [1, 8], data: sampleInput(served, 1, 3) } };
    const answered: number[] = [];
    const client = (async () => {
      while (on) {
        await host.infer("served", 1, x);
        answered.push(performance.now());
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    try {
      const profiler = startProfiler(host, registry);
      await until("both profiled under the light load", () => profiler.status().profiled === 2);
      expect(profiler.status().pauses).toBeGreaterThan(0);
      expect(host.busy.utilisation()).toBeLessThan(0.4);
      expect(answered.length).toBeGreaterThan(5);
    } finally {
      on = false;
      await client;
    }
    for (const name of ["served", "target"]) expect((await registry.get(name, 1))!.profile!.results.map((r) => r.batchSize)).toEqual([1, 8, 32]);
  }, 120_000);

  it("does not evict a hot model to profile another, and profiles it once that model has gone cold", async () => {
    const served = makeMlp({ sizes: [64, 256, 10], seed: 5 });
    // Room for one of the two.
    const { registry, host } = await setup({ served, target: makeMlp({ sizes: [64, 256, 10], seed: 6 }) }, 3 * MB);
    await registry.putProfile("served", 1, { runtime: "test", executionProvider: "cpu", warmupBatches: 0, durationSeconds: 0, loadRssDeltaBytes: 0, loadMs: 0, results: [], host: { platform: "", arch: "", cpus: 1, cpuModel: "", node: "" }, createdAt: new Date().toISOString() });
    const x = { input: { dtype: "float32" as const, shape: [1, 64], data: sampleInput(served, 1, 2) } };
    await host.infer("served", 1, x);
    const profiler = startProfiler(host, registry, { hotMs: 1500 });
    await until("waiting for room", () => /fits without evicting/.test(profiler.status().reason ?? ""));
    expect(profiler.status()).toMatchObject({ state: "idle", left: 1, runs: 0 });
    expect(host.status().evictions).toBe(0);
    // No request for 1.5 s: served is cold, and may make room.
    await until("target profiled", () => profiler.status().profiled === 1);
    expect(host.status().evictions).toBe(1);
    expect((await registry.get("target", 1))!.profile!.results).toHaveLength(3);
  }, 120_000);
});
