/**
 * The pipeline test runner closes each case's services (registry, model host) once the case
 * is over, so `evoflow test --watch`, which runs the cases again and again in one process,
 * does not pile up champion watches and model sessions on data folders already removed.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { NodeTypes, nodeTypes } from "../../runtime/node-types";
import { defineNode, port } from "../../sdk";
import type { ModelRegistry } from "../../sdk/registry";
import { runTestFile } from "../../testing/pipeline/run";

describe("the pipeline test runner's services", () => {
  it("closes the registry a case's nodes were given, so its champion watch ends with the case", async () => {
    const given: ModelRegistry[] = [];
    const watches = () => process.getActiveResourcesInfo().filter((r) => r === "FSEventWrap").length;
    const watcher = defineNode({
      type: "test.champion-watcher",
      category: "transform",
      title: "Watches a champion",
      description: "Follows a model's champion, as a model node does, and passes messages on.",
      inputs: { in: port.any() },
      outputs: { out: port.any() },
      config: z.object({}),
      create: (ctx) => {
        const registry = ctx.service<ModelRegistry>("registry");
        given.push(registry);
        const stop = registry.watch("m", () => {});
        return {
          onMessage: async (_port, message, emit) => {
            await emit("out", message.payload);
          },
          stop: async () => stop(),
        };
      },
    });
    const types = new NodeTypes([...nodeTypes.list(), watcher], nodeTypes.packages, nodeTypes.loadedWith);
    const dir = mkdtempSync(join(tmpdir(), "evoflow-runner-services-"));
    writeFileSync(
      join(dir, "watch.json"),
      JSON.stringify({ apiVersion: "evoflow/v1", name: "watch", nodes: [{ id: "request", type: "io.http" }, { id: "w", type: "test.champion-watcher" }], edges: [{ from: "request.out", to: "w.in", mode: "sync" }] }),
    );
    writeFileSync(join(dir, "watch.test.json"), JSON.stringify({ cases: [{ name: "passes on", inputs: [{ node: "request", payloads: [{ a: 1 }] }], expect: [{ at: "w.out", payloads: [{ a: 1 }] }] }] }));

    // Per run, after the first (whose count may include watches the process keeps once).
    const counts: number[] = [];
    for (let run = 0; run < 3; run++) {
      const result = await runTestFile(join(dir, "watch.test.json"), { nodeTypes: types });
      expect(result.cases).toEqual([{ name: "passes on", ms: expect.any(Number), failures: [] }]);
      counts.push(watches());
    }
    expect(given).toHaveLength(3);
    expect(counts[2]).toBe(counts[0]);
  });
});
