/**
 * The streaming drift detector nodes: one node type per detector, all built the
 * same way. A node passes every message through on `out` unchanged, feeds the
 * watched value (config `value`, a path such as `payload.error`) to its detector,
 * and emits a `DriftEvent` on `drift` when the detector reports drift. `status()`
 * gives the dashboard the drift magnitude over time (last `history` updates).
 * A message without a usable number at `value` is dead-lettered with the reason.
 */
import { z } from "zod";
import { defineNode, port, type NodeDefinition } from "../../sdk";
import { ADWIN } from "./adwin";
import { DDM } from "./ddm";
import type { StreamingDetector } from "./detector";
import { EDDM } from "./eddm";
import type { DriftEvent } from "./event";
import { HDDMA } from "./hddm-a";
import { MagnitudeHistory } from "./history";
import { KSWIN } from "./kswin";
import { PageHinkley } from "./page-hinkley";
import { parsePath, readPath, toNumber, valuePathSchema } from "./value-path";

const common = {
  value: valuePathSchema.default("payload"),
  history: z.number().int().min(0).max(100_000).default(500).describe("Magnitude points kept for the dashboard (one per value)"),
};

interface StreamingSpec<S extends z.ZodRawShape> {
  detector: string;
  title: string;
  description: string;
  params: S;
  make(params: z.output<z.ZodObject<S>>): StreamingDetector;
  /** Why it fired, in one sentence. */
  explain(detector: StreamingDetector): string;
}

/** Each streaming detector's constructor by name (`adwin`), for what runs detectors outside a pipeline (`evoflow drift eval`). */
export const streamingDetectorMakers: Record<string, (config: Record<string, unknown>) => StreamingDetector> = {};

function streamingDriftNode<S extends z.ZodRawShape>(spec: StreamingSpec<S>): NodeDefinition {
  const config = z.object({ ...common, ...spec.params });
  streamingDetectorMakers[spec.detector] = (cfg) => spec.make(cfg as z.output<z.ZodObject<S>>);
  return defineNode({
    type: `drift.${spec.detector}`,
    category: "drift",
    title: spec.title,
    description: spec.description,
    inputs: { in: port.any() },
    outputs: { out: port.sameAs("in"), drift: port.event("drift") },
    config,
    create: (_ctx, cfg) => {
      const c = cfg as unknown as { value: string; history: number };
      const path = parsePath(c.value)!;
      // A path ending in an index (`payload.x[3]`) watches that feature: events name it.
      const feature = /^\d+$/.test(path[path.length - 1]) ? Number(path[path.length - 1]) : undefined;
      const detector = spec.make(cfg as z.output<z.ZodObject<S>>);
      const history = new MagnitudeHistory(c.history);
      let values = 0;
      let drifts = 0;
      // Warning episodes: counted when the detector enters its warning zone.
      let warnings = 0;
      let inWarning = false;
      let lastDrift: DriftEvent | undefined;
      return {
        async onMessage(_port, message, emit) {
          const raw = readPath(message, path);
          const x = toNumber(raw);
          if (x === undefined) throw new Error(`${c.value} is not a number in this message (found ${raw === undefined ? "nothing" : typeof raw})`);
          detector.update(x);
          values++;
          history.record(message.ts, detector.magnitude);
          if (detector.warningDetected && !inWarning) warnings++;
          inWarning = detector.warningDetected;
          await emit("out", message.payload);
          if (!detector.driftDetected) return;
          drifts++;
          lastDrift = {
            kind: "drift",
            detector: spec.detector,
            ...(feature !== undefined ? { feature } : {}),
            statistic: detector.statistic,
            ...("pValue" in detector ? { pValue: (detector as KSWIN).pValue } : {}),
            threshold: detector.threshold,
            magnitude: detector.magnitude,
            window: { size: detector.window, lastMessage: message.id },
            index: values - 1,
            reason: spec.explain(detector),
          };
          await emit("drift", lastDrift);
        },
        status: () => ({
          detector: spec.detector,
          values,
          drifts,
          warnings,
          warning: detector.warningDetected,
          window: detector.window,
          magnitude: history.toArray(),
          lastDrift,
        }),
      };
    },
  });
}

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

export const adwinNode = streamingDriftNode({
  detector: "adwin",
  title: "ADWIN drift",
  description: "ADaptive WINdowing (River's drift.ADWIN): detects a change in the mean of a numeric stream, e.g. an error or a feature.",
  params: {
    delta: z.number().gt(0).lt(1).default(0.002).describe("Significance value: smaller = fewer false alarms, slower detection"),
    clock: z.number().int().min(1).max(1_000_000).default(32).describe("Check for change every `clock` values (at most 1,000,000)"),
    maxBuckets: z.number().int().min(2).max(1_000).default(5).describe("Buckets of each size kept before merging (at most 1,000)"),
    minWindowLength: z.number().int().min(1).max(10_000_000).default(5).describe("Shortest sub-window tested (at most 10,000,000)"),
    gracePeriod: z.number().int().min(0).max(1_000_000_000).default(10).describe("Values before any detection (at most 1,000,000,000)"),
  },
  make: (p) => new ADWIN(p),
  explain: (d) => `ADWIN: the window mean moved by ${fmt(d.statistic)}, over the bound ${fmt(d.threshold)}; kept the last ${d.window} values`,
});

export const ddmNode = streamingDriftNode({
  detector: "ddm",
  title: "DDM drift",
  description: "Drift Detection Method (River's drift.binary.DDM) on a 0/1 error stream (1 = wrong prediction).",
  params: {
    warmStart: z.number().int().min(0).max(1_000_000_000).default(30).describe("Values before a warning or drift can be reported (at most 1,000,000,000)"),
    warningThreshold: z.number().positive().default(2).describe("Warning at p + s > p_min + warningThreshold · s_min"),
    driftThreshold: z.number().positive().default(3).describe("Drift at p + s > p_min + driftThreshold · s_min"),
  },
  make: (p) => new DDM(p),
  explain: (d) => `DDM: error rate + std ${fmt(d.statistic)} rose over ${fmt(d.threshold)} after ${d.window} values`,
});

export const eddmNode = streamingDriftNode({
  detector: "eddm",
  title: "EDDM drift",
  description: "Early Drift Detection Method (River's drift.binary.EDDM) on a 0/1 error stream: errors coming closer together.",
  params: {
    warmStart: z.number().int().min(0).max(1_000_000_000).default(30).describe("Values and errors before a warning or drift can be reported (at most 1,000,000,000)"),
    alpha: z.number().gt(0).lt(1).default(0.95).describe("Warning when the spacing level falls under alpha"),
    beta: z.number().gt(0).lt(1).default(0.9).describe("Drift when the spacing level falls under beta (≤ alpha)"),
  },
  make: (p) => new EDDM(p),
  explain: (d) => `EDDM: the spacing between errors fell to ${fmt(d.statistic)} of its best, under ${fmt(d.threshold)}`,
});

export const hddmANode = streamingDriftNode({
  detector: "hddm-a",
  title: "HDDM_A drift",
  description: "Hoeffding's-bound drift detection, A-test (River's drift.binary.HDDM_A) on a 0/1 error stream.",
  params: {
    driftConfidence: z.number().gt(0).lt(1).default(0.001).describe("Confidence of the drift test"),
    warningConfidence: z.number().gt(0).lt(1).default(0.005).describe("Confidence of the warning test"),
    twoSidedTest: z.boolean().default(false).describe("Also detect decreases of the mean"),
  },
  make: (p) => new HDDMA(p),
  explain: (d) => `HDDM_A: the mean rose by ${fmt(d.statistic)} over its cut point, beyond the Hoeffding bound ${fmt(d.threshold)}`,
});

export const kswinNode = streamingDriftNode({
  detector: "kswin",
  title: "KSWIN drift",
  description: "Kolmogorov–Smirnov windowing (River's drift.KSWIN): the newest values against a random sample of older ones.",
  params: {
    alpha: z.number().gt(0).lt(1).default(0.005).describe("p-value at or under which drift is reported"),
    windowSize: z.number().int().min(2).max(10_000_000).default(100).describe("Values in the sliding window (at most 10,000,000)"),
    statSize: z.number().int().min(1).max(10_000_000).default(30).describe("Newest values tested (and values drawn from the rest) (at most 10,000,000)"),
    seed: z.number().int().min(0).optional().describe("Seed of the draws, for reproducible detections"),
  },
  make: (p) => new KSWIN(p),
  explain: (d) => `KSWIN: KS distance ${fmt(d.statistic)} between the newest values and older ones, p = ${fmt((d as KSWIN).pValue)}`,
});

export const pageHinkleyNode = streamingDriftNode({
  detector: "page-hinkley",
  title: "Page-Hinkley drift",
  description: "The Page-Hinkley test (River's drift.PageHinkley): cumulative deviation from the running mean.",
  params: {
    minInstances: z.number().int().min(1).max(1_000_000_000).default(30).describe("Values before a drift can be reported (at most 1,000,000,000)"),
    delta: z.number().min(0).default(0.005).describe("Tolerated deviation from the mean"),
    threshold: z.number().positive().default(50).describe("Drift when the cumulative deviation exceeds this (lambda)"),
    alpha: z.number().gt(0).max(1).default(1 - 0.0001).describe("Forgetting factor of the sums"),
    mode: z.enum(["up", "down", "both"]).default("both").describe("Watch increases, decreases or both"),
  },
  make: (p) => new PageHinkley(p),
  explain: (d) => `Page-Hinkley: cumulative deviation ${fmt(d.statistic)} passed the threshold ${fmt(d.threshold)}`,
});

export const streamingDriftNodes = [adwinNode, ddmNode, eddmNode, hddmANode, kswinNode, pageHinkleyNode];
