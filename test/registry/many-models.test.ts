/**
 * Many models in one registry and one agent, on a smaller count than bench/agent-many-models.ts
 * (10,000): every model listed once with its champion, none read by the agent before it is
 * asked for, and each answering with its own weights through a budget that holds a few at a time.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ModelHost } from "../../gpu-agent/host";
import { OnnxRuntimeBackend } from "../../gpu-agent/onnxruntime";
import { LocalModels } from "../../gpu-agent/service";
import { FsModelRegistry } from "../../runtime/registry/fs";
import { makeMlp, randomFloats } from "../fixtures/mlp";

const COUNT = 300;

describe(`${COUNT} models in one registry and agent`, () => {
  it("lists each once with its champion, reads none on start, and serves each with its own weights", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evoflow-many-"));
    const registry = new FsModelRegistry(join(dir, "registry"));
    const names = Array.from({ length: COUNT }, (_, i) => `m${String(i).padStart(4, "0")}`);
    const models = names.map((_, i) => makeMlp({ sizes: [8, 4, 2], seed: i + 1 }));
    for (const [i, name] of names.entries()) {
      await registry.register({ name, artifact: models[i].bytes });
      await registry.register({ name, artifact: makeMlp({ sizes: [8, 4, 2], seed: 10_000 + i }).bytes });
      await registry.promote(name, i % 2 ? 2 : 1);
    }

    const listed = await registry.list();
    expect(listed.map((m) => m.name)).toEqual(names);
    for (const [i, m] of listed.entries()) expect(m.champion).toBe(i % 2 ? 2 : 1);

    // A budget for about 5 of them: the others are evicted and loaded again as they are asked for.
    const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 5 * 2.2e6, cacheDir: join(dir, "cache"), source: LocalModels.registrySource(registry) });
    const service = new LocalModels(host, registry);
    expect(host.list()).toEqual([]);
    const x = randomFloats(8, 3);
    for (let i = 0; i < COUNT; i += 2) {
      const version = await service.resolve(names[i], "champion");
      expect(version).toBe(1);
      const out = await service.infer(names[i], version, { input: { dtype: "float32", shape: [1, 8], data: x } });
      const expected = models[i].forward(x, 1);
      (out.output.data as Float32Array).forEach((v, k) => expect(v).toBeCloseTo(expected[k], 4));
    }
    const status = host.status();
    expect(status.assigned).toBe(COUNT / 2);
    expect(status.resident.length).toBeLessThanOrEqual(5);
    expect(status.evictions).toBeGreaterThan(0);
    await host.close();
    await registry.close();
  }, 120_000);
});
