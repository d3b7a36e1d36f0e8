/**
 * CPU-seconds per model version on the agent's path: ModelHost.infer on real onnxruntime
 * sessions, in the main thread and in session worker threads. Two versions of one model, the
 * second with two 2048-wide hidden layers, are charged per version in /metrics; the heavy one
 * costs many times the light one per request, and what is charged never exceeds the CPU the
 * process used meanwhile.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { EnergyMeter } from "../../runtime/energy";
import { makeMlp, randomFloats } from "../fixtures/mlp";

function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  if (!line) throw new Error(`no ${name}{${labels}} in:\n${text}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

let host: ModelHost | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

describe.each([{ workers: 0 }, { workers: 2 }])("model CPU per version (session workers: $workers)", ({ workers }) => {
  it("charges each version its runs, heavy ≫ light per request, within the process's CPU", async () => {
    const cost = new EnergyMeter({ energy: "model", wattsPerCore: 4, pricePerCoreHour: 3.6 });
    host = new ModelHost({
      backend: new OnnxRuntimeBackend({ executionProvider: "cpu", intraOpThreads: 1, workers }),
      memoryBytes: 512 * 1024 * 1024,
      cacheDir: mkdtempSync(path.join(tmpdir(), "evoflow-model-cpu-")),
      cost,
    });
    await host.assign({ name: "m", version: 1, artifact: makeMlp({ sizes: [64, 3], seed: 1 }).bytes });
    await host.assign({ name: "m", version: 2, artifact: makeMlp({ sizes: [64, 2048, 2048, 3], seed: 2 }).bytes });
    const x = randomFloats(64, 5);
    const input = { input: { dtype: "float32" as const, shape: [1, 64], data: x } };
    for (const v of [1, 2]) await host.infer("m", v, input); // loads: not what is measured
    const registry = new Registry();
    host.registerMetrics(registry);
    const before = await registry.metrics();
    const cpuBefore = process.cpuUsage();
    const requests = 100;
    if (workers === 0) {
      // Concurrent requests to both versions: runs of the two interleave on the event loop.
      await Promise.all(Array.from({ length: requests * 2 }, (_, i) => host!.infer("m", (i % 2) + 1, input)));
    } else {
      // Each version's requests together, the versions one after the other: runs in two session
      // workers at once would count each other's CPU (getrusage is process-wide, README: Cost and energy).
      for (const v of [1, 2]) await Promise.all(Array.from({ length: requests }, () => host!.infer("m", v, input)));
    }
    const used = process.cpuUsage(cpuBefore);
    const processSeconds = (used.user + used.system) / 1e6;
    const text = await registry.metrics();

    const light = metric(text, "evoflow_model_cpu_seconds_total", 'model="m",version="1"') - metric(before, "evoflow_model_cpu_seconds_total", 'model="m",version="1"');
    const heavy = metric(text, "evoflow_model_cpu_seconds_total", 'model="m",version="2"') - metric(before, "evoflow_model_cpu_seconds_total", 'model="m",version="2"');
    expect(light).toBeGreaterThan(0);
    // ~4.3 M multiply-adds a request against 192: many times over, whatever the noise.
    expect(heavy).toBeGreaterThan(light * 5);
    expect(light + heavy).toBeLessThanOrEqual(processSeconds);
    expect(metric(text, "evoflow_model_inferences_total", 'model="m",version="2"')).toBe(requests + 1);
    const heavyPer1000 = (metric(text, "evoflow_model_cpu_seconds_total", 'model="m",version="2"') / (requests + 1)) * 1000;
    expect(metric(text, "evoflow_model_cost_per_1000_inferences", 'model="m",version="2",currency="USD"')).toBeCloseTo(heavyPer1000 * 0.001, 9);
    expect(metric(text, "evoflow_model_energy_joules_per_1000_inferences", 'model="m",version="2",source="model"')).toBeCloseTo(heavyPer1000 * 4, 6);
    expect(host.status().models.find((m) => m.version === 2)!.cpuSeconds).toBeGreaterThan(heavy);
  });
});
