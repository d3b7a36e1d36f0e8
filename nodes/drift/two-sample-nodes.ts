/**
 * Two-sample drift nodes: a reference window against the most recent window.
 * The reference is the first `referenceSize` messages (or values given inline in
 * `reference`); the current window holds the last `window` messages and is tested
 * every `every` messages once full (by default each window once: non-overlapping).
 * Several features are tested one by one and combined with a Bonferroni or FDR
 * correction (p-value tests, as Alibi Detect), or drift when any feature's distance
 * reaches the threshold (PSI, Wasserstein); MMD tests all selected features jointly.
 * After a drift the current window becomes the reference (`afterDrift`), so one
 * shift gives one event, as a River detector resets after a drift.
 * Messages pass through on `out` unchanged; drift events go out on `drift`, and
 * `status()` has the magnitude of every test for the dashboard.
 */
import { z } from "zod";
import { defineNode, port, type Message, type NodeDefinition } from "../../sdk";
import { chiSquareTest, countCategories } from "./chi-square";
import { correctedDrift } from "./corrections";
import type { DriftEvent } from "./event";
import { MagnitudeHistory } from "./history";
import { ksTwoSample } from "./ks";
import { mmdTest, mmdThreshold } from "./mmd";
import { populationStabilityIndex, psiFromCounts } from "./psi";
import { TwoSampleDetector, type TestOutcome, type Value, type Vector, type WindowConfig } from "./two-sample-detector";
import { normedWasserstein } from "./wasserstein";
import { parsePath, readPath, toVector, valuePathSchema } from "./value-path";


const vectorSchema = z.union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))]);

const common = {
  value: valuePathSchema.default("payload"),
  features: z.array(z.number().int().min(0).max(10_000_000)).optional().describe("Indexes of the features to test in the watched vector (all when absent) (indexes at most 10,000,000)"),
  referenceSize: z.number().int().min(2).max(10_000_000).default(500).describe("The first N messages form the reference window (at most 10,000,000)"),
  reference: z.array(vectorSchema).min(2).optional().describe("Reference values given here instead, one entry (number or vector) per message"),
  window: z.number().int().min(2).max(10_000_000).default(500).describe("Messages in the current window (at most 10,000,000)"),
  every: z.number().int().min(1).max(10_000_000).optional().describe("Test every N messages once the window is full (default: `window`, so windows do not overlap) (at most 10,000,000)"),
  afterDrift: z
    .enum(["adopt-current", "keep-reference"])
    .default("adopt-current")
    .describe("adopt-current: the drifted window becomes the reference (one event per shift); keep-reference: always compare with the first reference"),
  history: z.number().int().min(0).max(100_000).default(500).describe("Test results kept for the dashboard"),
};

interface TwoSampleSpec<S extends z.ZodRawShape> {
  detector: string;
  /** Only numbers are accepted (KS, Wasserstein, MMD); chi-square and PSI also take string categories. */
  numeric: boolean;
  title: string;
  description: string;
  params: S;
  test(reference: Vector[], current: Vector[], features: number[], params: z.output<z.ZodObject<S>>): TestOutcome;
}

function column(rows: Vector[], feature: number): Value[] {
  return rows.map((r) => r[feature]);
}

function numericColumn(rows: Vector[], feature: number, detector: string): number[] {
  return rows.map((r, i) => {
    const v = r[feature];
    if (typeof v !== "number") throw new Error(`${detector} needs numbers; feature ${feature} of value ${i} is ${JSON.stringify(v)}`);
    return v;
  });
}

/** Test results listed in `status()` besides the magnitude history. */
const RECENT_TESTS = 20;

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

/** The detector a two-sample node's config makes, for `evoflow drift eval` (one number per update); filled as the nodes are declared. */
export const twoSampleDetectorMakers: Record<string, (config: Record<string, unknown>) => TwoSampleDetector> = {};

function twoSampleDriftNode<S extends z.ZodRawShape>(spec: TwoSampleSpec<S>): NodeDefinition {
  const config = z.object({ ...common, ...spec.params });
  const makeDetector = (cfg: Record<string, unknown>) =>
    new TwoSampleDetector(cfg as unknown as WindowConfig, (reference, current, features) => spec.test(reference, current, features, cfg as z.output<z.ZodObject<S>>));
  twoSampleDetectorMakers[spec.detector] = (cfg) => makeDetector(cfg);
  return defineNode({
    type: `drift.${spec.detector}`,
    category: "drift",
    title: spec.title,
    description: spec.description,
    inputs: { in: port.any() },
    outputs: { out: port.sameAs("in"), drift: port.event("drift") },
    acceptsSync: true,
    config,
    create: (_ctx, cfg) => {
      const c = cfg as unknown as z.output<z.ZodObject<typeof common>>;
      const path = parsePath(c.value)!;
      const detector = makeDetector({ ...cfg, reference: c.reference?.map((v) => (Array.isArray(v) ? v : [v])) });
      let lastDrift: DriftEvent | undefined;
      const history = new MagnitudeHistory(c.history);
      const results: { ts: number; drift: boolean; statistic: number; pValue?: number }[] = [];

      return {
        async onMessage(_port, message: Message, emit) {
          const raw = readPath(message, path);
          const vector = toVector(raw);
          if (!vector) throw new Error(`${c.value} is not a number, string, vector or tensor in this message`);
          const width = detector.width ?? vector.length;
          if (vector.length !== width) throw new Error(`${c.value} has ${vector.length} features, earlier values had ${width}`);
          // Refused before it is passed on or stored, so a bad value never reaches a test.
          if (spec.numeric)
            for (const f of detector.selectFeatures(width))
              if (typeof vector[f] !== "number") throw new Error(`${spec.title} needs numbers; feature ${f} of ${c.value} is ${JSON.stringify(vector[f])}`);
          await emit("out", message.payload);
          const tested = detector.update(vector, message.id).lastTest;
          if (!tested) return;
          const { outcome, window, ids } = tested;
          history.record(message.ts, outcome.magnitude);
          results.push({ ts: message.ts, drift: outcome.drift, statistic: outcome.statistic, pValue: outcome.pValue });
          if (results.length > RECENT_TESTS) results.shift();
          if (!outcome.drift) return;
          lastDrift = {
            kind: "drift",
            detector: spec.detector,
            ...(outcome.feature !== undefined ? { feature: outcome.feature } : {}),
            statistic: outcome.statistic,
            ...(outcome.pValue !== undefined ? { pValue: outcome.pValue } : {}),
            threshold: outcome.threshold,
            magnitude: outcome.magnitude,
            window: { size: window.length, reference: tested.referenceSize, firstMessage: ids[0], lastMessage: ids[ids.length - 1] },
            index: detector.values - 1,
            reason: outcome.reason,
            ...(outcome.features ? { features: outcome.features } : {}),
          };
          await emit("drift", lastDrift);
        },
        status: () => ({
          detector: spec.detector,
          values: detector.values,
          reference: detector.referenceLength,
          current: detector.currentLength,
          tests: detector.tests,
          drifts: detector.drifts,
          magnitude: history.toArray(),
          recentTests: results,
          lastDrift,
        }),
      };
    },
  });
}

const pValueParams = {
  pValue: z.number().gt(0).lt(1).default(0.05).describe("Significance level: drift when the (corrected) p-value is under it"),
  correction: z.enum(["bonferroni", "fdr"]).default("bonferroni").describe("How the p-values of several features are combined (Alibi Detect's choices)"),
};

/** Per-feature p-value tests combined with the correction. */
function correctedOutcome(
  name: string,
  perFeature: { feature: number; statistic: number; pValue: number; distance: number }[],
  pValue: number,
  correction: "bonferroni" | "fdr",
): TestOutcome {
  const corrected = correctedDrift(perFeature.map((f) => f.pValue), pValue, correction);
  const worst = perFeature.reduce((a, b) => (b.pValue < a.pValue ? b : a));
  const drifted = corrected.driftedFeatures.map((i) => perFeature[i].feature);
  return {
    drift: corrected.isDrift,
    statistic: worst.statistic,
    pValue: worst.pValue,
    threshold: corrected.threshold,
    magnitude: Math.max(...perFeature.map((f) => f.distance)),
    feature: perFeature.length === 1 ? perFeature[0].feature : drifted,
    features: perFeature.length > 1 ? perFeature.map((f, i) => ({ feature: f.feature, statistic: f.statistic, pValue: f.pValue, drift: corrected.driftedFeatures.includes(i) })) : undefined,
    reason:
      perFeature.length === 1
        ? `${name}: statistic ${fmt(worst.statistic)}, p = ${fmt(worst.pValue)} < ${fmt(corrected.threshold)}`
        : `${name}: ${drifted.length} of ${perFeature.length} features drifted (${correction}, threshold ${fmt(corrected.threshold)}); smallest p = ${fmt(worst.pValue)} on feature ${worst.feature}`,
  };
}

/** Per-feature distances: drift when any reaches the threshold. */
function distanceOutcome(name: string, perFeature: { feature: number; distance: number }[], threshold: number): TestOutcome {
  const worst = perFeature.reduce((a, b) => (b.distance > a.distance ? b : a));
  const drifted = perFeature.filter((f) => f.distance >= threshold).map((f) => f.feature);
  return {
    drift: drifted.length > 0,
    statistic: worst.distance,
    threshold,
    magnitude: worst.distance,
    feature: perFeature.length === 1 ? perFeature[0].feature : drifted,
    features: perFeature.length > 1 ? perFeature.map((f) => ({ feature: f.feature, statistic: f.distance, drift: f.distance >= threshold })) : undefined,
    reason: `${name}: ${perFeature.length === 1 ? "" : `${drifted.length} of ${perFeature.length} features at or over the threshold; largest on feature ${worst.feature}: `}${fmt(worst.distance)} ≥ ${fmt(threshold)}`,
  };
}

export const ksNode = twoSampleDriftNode({
  detector: "ks",
  numeric: true,
  title: "Kolmogorov–Smirnov drift",
  description: "Two-sample Kolmogorov–Smirnov test per numeric feature, reference vs recent window (SciPy's ks_2samp p-values).",
  params: { ...pValueParams, method: z.enum(["auto", "exact", "asymp"]).default("auto").describe("p-value method, as SciPy: exact up to 10,000 values under auto") },
  test: (ref, cur, features, p) =>
    correctedOutcome(
      "KS",
      features.map((f) => {
        const r = ksTwoSample(numericColumn(ref, f, "drift.ks"), numericColumn(cur, f, "drift.ks"), p.method);
        return { feature: f, statistic: r.statistic, pValue: r.pValue, distance: r.statistic };
      }),
      p.pValue,
      p.correction,
    ),
});

export const chiSquareNode = twoSampleDriftNode({
  detector: "chi-square",
  numeric: false,
  title: "Chi-square drift",
  description: "Chi-square test of category counts per categorical feature (numbers or strings), reference vs recent window.",
  params: pValueParams,
  test: (ref, cur, features, p) =>
    correctedOutcome(
      "Chi-square",
      features.map((f) => {
        const refValues = column(ref, f);
        const curValues = column(cur, f);
        const categories = [...new Set([...refValues, ...curValues])];
        const r = chiSquareTest(countCategories(refValues, categories).counts, countCategories(curValues, categories).counts);
        return { feature: f, statistic: r.statistic, pValue: r.pValue, distance: Math.sqrt(r.statistic / (ref.length + cur.length)) };
      }),
      p.pValue,
      p.correction,
    ),
});

export const psiNode = twoSampleDriftNode({
  detector: "psi",
  numeric: false,
  title: "PSI drift",
  description: "Population Stability Index per feature (Evidently's formula): numeric features binned on the reference, string features by category.",
  params: {
    threshold: z.number().positive().default(0.1).describe("Drift when a feature's PSI reaches this (0.1 moderate, 0.25 major)"),
    bins: z.number().int().min(2).max(10_000).default(10).describe("Equal-width bins over the reference range, for numeric features (at most 10,000)"),
  },
  test: (ref, cur, features, p) =>
    distanceOutcome(
      "PSI",
      features.map((f) => {
        const refValues = column(ref, f);
        const curValues = column(cur, f);
        if (refValues.every((v) => typeof v === "number") && curValues.every((v) => typeof v === "number"))
          return { feature: f, distance: populationStabilityIndex(refValues as number[], curValues as number[], p.bins) };
        const categories = [...new Set([...refValues, ...curValues])];
        return { feature: f, distance: psiFromCounts(countCategories(refValues, categories).counts, countCategories(curValues, categories).counts) };
      }),
      p.threshold,
    ),
});

export const wassersteinNode = twoSampleDriftNode({
  detector: "wasserstein",
  numeric: true,
  title: "Wasserstein drift",
  description: "Wasserstein distance per numeric feature, divided by the reference's standard deviation (Evidently's normed Wasserstein).",
  params: { threshold: z.number().positive().default(0.1).describe("Drift when a feature's normed distance reaches this") },
  test: (ref, cur, features, p) =>
    distanceOutcome(
      "Wasserstein",
      features.map((f) => ({ feature: f, distance: normedWasserstein(numericColumn(ref, f, "drift.wasserstein"), numericColumn(cur, f, "drift.wasserstein")) })),
      p.threshold,
    ),
});

export const mmdNode = twoSampleDriftNode({
  detector: "mmd",
  numeric: true,
  title: "MMD drift",
  description: "Maximum Mean Discrepancy over all selected features jointly, RBF kernel and permutation test (Alibi Detect's MMDDrift).",
  params: {
    pValue: z.number().gt(0).lt(1).default(0.05).describe("Drift when the permutation p-value is at or under this"),
    nPermutations: z.number().int().min(10).max(100_000).default(100).describe("Permutations for the p-value (at most 100,000)"),
    sigma: z.number().positive().optional().describe("RBF bandwidth (median heuristic when absent)"),
    seed: z.number().int().min(0).default(0).describe("Seed of the permutations"),
  },
  test: (ref, cur, features, p) => {
    const points = (rows: Vector[]) => {
      const columns = features.map((f) => numericColumn(rows, f, "drift.mmd"));
      return rows.map((_, i) => columns.map((col) => col[i]));
    };
    const r = mmdTest(points(ref), points(cur), { nPermutations: p.nPermutations, sigma: p.sigma, seed: p.seed });
    return {
      drift: r.pValue <= p.pValue,
      statistic: r.statistic,
      pValue: r.pValue,
      threshold: p.pValue,
      magnitude: r.statistic,
      feature: features.length === 1 ? features[0] : features,
      reason: `MMD: MMD² ${fmt(r.statistic)} (σ ${fmt(r.sigma)}) over the permutation threshold ${fmt(mmdThreshold(r.permuted, p.pValue))}, p = ${fmt(r.pValue)} ≤ ${p.pValue}`,
    };
  },
});

export const twoSampleDriftNodes = [ksNode, chiSquareNode, psiNode, wassersteinNode, mmdNode];
