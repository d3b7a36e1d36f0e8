/**
 * Drift nodes inside real pipelines run by the Runtime (memory transport): the
 * seeded synthetic generator shifts the mean of `x` at message 2000, the
 * detectors pass every message through and emit drift events we record; then
 * single drift nodes fed message by message with evoflow/testing.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningPipeline } from "../../runtime/engine/engine";
import { Runtime } from "../../runtime/runtime";
import type { DriftEvent } from "../../nodes/drift/event";
import { loadNode, NodeLoadError, type TestNode } from "../../testing";
import { builtin } from "../nodes/builtin";
import { probe, testNodeTypes } from "../runtime/helpers";

let runtime: Runtime;
beforeEach(() => {
  runtime = new Runtime({ nodeTypes: testNodeTypes, dataDir: mkdtempSync(join(tmpdir(), "evoflow-drift-")) });
});
afterEach(async () => {
  await runtime.close();
});

/** Waits until the generator has emitted everything and every async edge is drained. */
async function finished(running: RunningPipeline, generator = "gen"): Promise<void> {
  while (!(running.status().nodes[generator] as { done?: boolean }).done) await new Promise((r) => setTimeout(r, 10));
  await running.idle();
}

const shiftingSource = { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 3000, features: 2, seed: 3, shiftAt: 2000, shift: 1 } } };

describe("drift nodes in a pipeline", () => {
  it("drift.ks and drift.page-hinkley pass messages through and report the shift at message 2000", async () => {
    const ksEvents = probe("ks-events");
    const phEvents = probe("ph-events");
    const passed = probe("passed");
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "drift-nodes",
      nodes: [
        shiftingSource,
        { id: "ks", type: "drift.ks", config: { value: "payload.x", referenceSize: 500, window: 500, correction: "bonferroni" } },
        // delta: half the shift to detect, so unit-variance noise alone does not accumulate.
        { id: "ph", type: "drift.page-hinkley", config: { value: "payload.x[0]", delta: 0.5 } },
        { id: "ksEvents", type: "test.recorder", config: { key: "ks-events" } },
        { id: "phEvents", type: "test.recorder", config: { key: "ph-events" } },
        { id: "passed", type: "test.recorder", config: { key: "passed" } },
      ],
      edges: [
        { from: "gen.out", to: "ks.in", mode: "async" },
        { from: "gen.out", to: "ph.in", mode: "async" },
        { from: "ks.drift", to: "ksEvents.in", mode: "async" },
        { from: "ph.drift", to: "phEvents.in", mode: "async" },
        { from: "ph.out", to: "passed.in", mode: "async" },
      ],
    });
    await finished(running);

    // Every message went through unchanged, in order.
    expect(passed.received.map((m) => (m.payload as { i: number }).i)).toEqual(Array.from({ length: 3000 }, (_, i) => i));

    const ks = ksEvents.received.map((m) => m.payload as DriftEvent);
    expect(ks).toHaveLength(1); // the drifted window becomes the reference: one shift, one event
    expect(ks[0]).toMatchObject({ kind: "drift", detector: "ks", feature: [0, 1], index: 2499, threshold: 0.025 });
    expect(ks[0].window).toMatchObject({ size: 500, reference: 500 });
    expect(ks[0].pValue).toBeLessThan(0.025);
    expect(ks[0].features).toHaveLength(2);
    expect(ks[0].reason).toMatch(/2 of 2 features drifted/);

    const ph = phEvents.received.map((m) => m.payload as DriftEvent);
    expect(ph.length).toBeGreaterThanOrEqual(1);
    expect(ph[0].index).toBeGreaterThanOrEqual(2000);
    expect(ph[0].index).toBeLessThan(2300);
    expect(ph[0].magnitude).toBeGreaterThan(1);
    expect(ph[0].feature).toBe(0); // the path payload.x[0] names the feature
    // The drift event's provenance points at the message that revealed the drift.
    expect(phEvents.received[0].parents).toHaveLength(1);

    const status = running.status().nodes;
    expect(status.ks).toMatchObject({ detector: "ks", values: 3000, tests: 5, drifts: 1 });
    const ksMagnitudes = (status.ks as { magnitude: { magnitude: number }[] }).magnitude.map((p) => p.magnitude);
    expect(ksMagnitudes).toHaveLength(5); // windows 500–999, …, 2500–2999; the fourth holds the shift
    expect(ksMagnitudes[3]).toBeGreaterThan(3 * Math.max(ksMagnitudes[0], ksMagnitudes[1], ksMagnitudes[2], ksMagnitudes[4]));
    expect((status.ph as { magnitude: unknown[] }).magnitude).toHaveLength(500);
  });

  it.each([
    ["drift.adwin", {}],
    ["drift.kswin", { alpha: 0.0001, seed: 42 }],
    // Between two samples of 500 from one normal, the normed distance is often near 0.1.
    ["drift.wasserstein", { referenceSize: 500, window: 500, threshold: 0.25 }],
    ["drift.psi", { referenceSize: 500, window: 500 }],
    ["drift.mmd", { referenceSize: 200, window: 200, nPermutations: 50 }],
  ])("%s finds the same shift", async (type, config) => {
    const events = probe(`events-${type}`);
    const running = await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "drift-one",
      nodes: [
        shiftingSource,
        { id: "d", type, config: { value: "payload.x[0]", ...config } },
        { id: "rec", type: "test.recorder", config: { key: `events-${type}` } },
      ],
      edges: [
        { from: "gen.out", to: "d.in", mode: "async" },
        { from: "d.drift", to: "rec.in", mode: "async" },
      ],
    });
    await finished(running);
    const first = events.received[0]?.payload as DriftEvent;
    expect(first).toBeDefined();
    expect(first.index).toBeGreaterThanOrEqual(2000);
    expect(first.index).toBeLessThan(2500);
  });

});

/** Drift nodes on their own (evoflow/testing): each fed message by message on its input. */
describe("a drift node on its own", () => {
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.stop();
    node = undefined;
  });

  it("drift.ddm on a 0/1 error field, with messages lacking it dead-lettered while the rest flow on", async () => {
    node = await loadNode(builtin("drift.ddm"), { config: { value: "payload.wrong" } });
    for (let i = 0; i < 2000; i++) {
      if (i === 500) await node.send("in", { i: -1, note: "no error field" });
      await node.send("in", { i, wrong: i < 1000 ? i % 10 === 0 : i % 2 === 0 });
    }
    const letters = node.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0].reason).toMatch(/payload\.wrong is not a number/);
    expect(node.status()).toMatchObject({ values: 2000 });
    const first = (await node.next<DriftEvent>("drift")).payload;
    expect(first.detector).toBe("ddm");
    expect(first.index).toBeGreaterThanOrEqual(1000);
    expect(first.index).toBeLessThan(1100);
  });

  it("reads features out of tensors: an element for a streaming detector, chosen features for a two-sample test", async () => {
    const adwin = await loadNode(builtin("drift.adwin"), { config: { value: "payload.t[1]" } });
    const ks = await loadNode(builtin("drift.ks"), { config: { value: "payload.t", features: [0, 2], referenceSize: 200, window: 200 } });
    try {
      // Feature 1 steps from 0 to 1 at i = 400; feature 2 shifts at i = 400; feature 0 never changes.
      for (let i = 0; i < 600; i++) {
        const wave = Math.sin(i * 0.7);
        const data = Float32Array.of(wave, i < 400 ? 0 : 1, wave + (i < 400 ? 0 : 2));
        await adwin.send("in", { t: { dtype: "float32", shape: [3], data } });
        await ks.send("in", { t: { dtype: "float32", shape: [3], data } });
      }
      const adwinEvents = adwin.payloads<DriftEvent>("drift");
      expect(adwinEvents[0].index).toBeGreaterThanOrEqual(400);
      expect(adwinEvents[0].index).toBeLessThan(450);
      const ksEvents = ks.payloads<DriftEvent>("drift");
      expect(ksEvents).toHaveLength(1);
      expect(ksEvents[0]).toMatchObject({ index: 599, feature: [2] });
      expect(ksEvents[0].features!.map((f) => [f.feature, f.drift])).toEqual([
        [0, false],
        [2, true],
      ]);
    } finally {
      await adwin.stop();
      await ks.stop();
    }
  });

  it("a two-sample node refuses a value its test cannot take before passing it on", async () => {
    node = await loadNode(builtin("drift.ks"), { config: { value: "payload.v" } });
    await node.send("in", { v: 1.5 });
    await node.send("in", { v: "high" });
    await node.send("in", { v: 2.5 });
    expect(node.payloads<{ v: number }>("out").map((p) => p.v)).toEqual([1.5, 2.5]);
    expect(node.deadLetters().map((l) => l.reason)).toEqual([expect.stringMatching(/Kolmogorov–Smirnov drift needs numbers; feature 0 of payload\.v is "high"/)]);
  });

  it("refuses a config that is not a path, naming the field", async () => {
    const refused = await loadNode(builtin("drift.adwin"), { config: { value: "payload..x", delta: 3 } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeLoadError);
    expect((refused as NodeLoadError).problems.map((p) => p.path).sort()).toEqual(["$.config.delta", "$.config.value"]);
  });
});
