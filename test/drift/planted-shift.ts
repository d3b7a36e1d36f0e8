/**
 * The pipeline of the root-cause analysis tests: a seeded generator whose feature x[1] (and only
 * it) shifts by 1.5 standard deviations from message 600, two transforms, and a KS detector on a
 * value derived from x[1] two nodes downstream. The shift entered on the generator's edge.
 */
import type { RunningPipeline } from "../../runtime/engine/engine";

export const SHIFT_AT = 600;

type NodeJson = { id: string; type: string; config: Record<string, unknown> };

export const plantedShiftPipeline = {
  apiVersion: "evoflow/v1",
  name: "planted-shift",
  nodes: [
    { id: "gen", type: "io.generator", config: { source: { kind: "synthetic", count: 900, features: 3, seed: 7, shiftAt: SHIFT_AT, shift: 1.5, shiftFeatures: [1] } } },
    // A: named features and a category from an unshifted one.
    { id: "A", type: "transform.jsonata", config: { expression: '{"a": x[0], "b": x[1], "c": x[2], "segment": x[2] > 0 ? "up" : "down"}' } },
    // B: derived features; the detector watches `b2`, made from the shifted one.
    { id: "B", type: "transform.jsonata", config: { expression: '$merge([$, {"sum": a + c, "b2": b * 2}])' } },
    { id: "detector", type: "drift.ks", config: { value: "payload.b2", referenceSize: 300, window: 300 } },
  ] as NodeJson[],
  edges: [
    { from: "gen.out", to: "A.in", mode: "async" },
    { from: "A.out", to: "B.in" },
    { from: "B.out", to: "detector.in", mode: "async" },
  ],
};

/** Waits until the generator has emitted everything and every async edge is drained. */
export async function finished(running: RunningPipeline): Promise<void> {
  while (!(running.status().nodes.gen as { done?: boolean }).done) await new Promise((r) => setTimeout(r, 10));
  await running.idle();
}
