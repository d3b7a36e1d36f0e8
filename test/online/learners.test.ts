/**
 * The online learners against River's definitions on a seeded stream. Logistic regression: the
 * first SGD steps computed here by hand. Hoeffding tree: every split attempt recomputed here from
 * the raw examples (two-pass Gaussian estimates per class, River's 10 thresholds, information gain,
 * Hoeffding bound), so the tree must split on the separating feature at exactly the first attempt
 * the bound allows, and not before.
 */
import { errorFunction } from "simple-statistics";
import { describe, expect, it } from "vitest";
import { hoeffdingTreeConfig } from "../../nodes/model/online/hoeffding-tree";
import { OnlineLearner } from "../../nodes/model/online/learner";
import { logisticRegressionConfig } from "../../nodes/model/online/logistic-regression";
import { seededRandom } from "../../sdk/random";

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe("online logistic regression (River: LogisticRegression(SGD(0.01)) one-vs-rest)", () => {
  it("takes River's first SGD steps and normalises the one-vs-rest probabilities", () => {
    const random = seededRandom(3);
    const xs = Array.from({ length: 3 }, () => [random(), random() * 2 - 1, random()]);
    const learner = new OnlineLearner(logisticRegressionConfig.parse({ kind: "logistic-regression" }), 3, 3);
    learner.learnOne(xs[0], 0);
    // Step 1: one model (class 0), raw 0, Log gradient −1/(e⁰+1) = −0.5.
    const w0 = xs[0].map((v) => 0.01 * 0.5 * v);
    const b0 = 0.005;
    learner.learnOne(xs[1], 2);
    // Step 2: class 2 gets a fresh model (gradient −0.5); class 0's model sees y = false: gradient σ(raw).
    const raw0 = b0 + w0.reduce((a, w, i) => a + w * xs[1][i], 0);
    const g0 = sigmoid(raw0);
    const w0b = w0.map((w, i) => w - 0.01 * g0 * xs[1][i]);
    const b0b = b0 - 0.01 * g0;
    const w2 = xs[1].map((v) => 0.01 * 0.5 * v);
    const b2 = 0.005;
    const state = learner.state as { classes: number[]; models: { weights: number[]; intercept: number }[] };
    expect(state.classes).toEqual([0, 2]);
    state.models[0].weights.forEach((w, i) => expect(w).toBeCloseTo(w0b[i], 12));
    expect(state.models[0].intercept).toBeCloseTo(b0b, 12);
    state.models[1].weights.forEach((w, i) => expect(w).toBeCloseTo(w2[i], 12));
    expect(state.models[1].intercept).toBeCloseTo(b2, 12);

    const p = learner.predictProbaOne(xs[2]);
    const p0 = sigmoid(b0b + w0b.reduce((a, w, i) => a + w * xs[2][i], 0));
    const p2 = sigmoid(b2 + w2.reduce((a, w, i) => a + w * xs[2][i], 0));
    expect(p[0]).toBeCloseTo(p0 / (p0 + p2), 6);
    expect(p[1]).toBe(0);
    expect(p[2]).toBeCloseTo(p2 / (p0 + p2), 6);
  });

  it("learns a separable stream and survives a snapshot round trip unchanged", () => {
    const random = seededRandom(5);
    const learner = new OnlineLearner(logisticRegressionConfig.parse({ kind: "logistic-regression", learningRate: 0.1, interceptLearningRate: 0.1 }), 2, 2);
    const draw = () => {
      const y = random() < 0.5 ? 0 : 1;
      return { x: [random() * 0.5 + y, random()], y };
    };
    for (let i = 0; i < 2000; i++) {
      const { x, y } = draw();
      learner.learnOne(x, y);
    }
    let right = 0;
    for (let i = 0; i < 500; i++) {
      const { x, y } = draw();
      const p = learner.predictProbaOne(x);
      if ((p[1] > p[0] ? 1 : 0) === y) right++;
    }
    expect(right / 500).toBeGreaterThan(0.9);
    const copy = OnlineLearner.fromSnapshot(learner.snapshot());
    expect(Array.from(copy.predictProbaOne([0.7, 0.2]))).toEqual(Array.from(learner.predictProbaOne([0.7, 0.2])));
    expect(copy.updates).toBe(2000);
  });
});

/** River's definitions, written out independently of the implementation. */
function expectedAttempt(rows: { x: number[]; y: number }[], nSplits: number, delta: number, tau: number) {
  const H = (d: number[]) => {
    const s = d.reduce((a, b) => a + b, 0);
    return d.reduce((h, v) => (v > 0 ? h - (v / s) * Math.log2(v / s) : h), 0);
  };
  const classes = [0, 1];
  const counts = classes.map((c) => rows.filter((r) => r.y === c).length);
  const merits = [0, 1].map((f) => {
    const per = classes.map((c) => {
      const v = rows.filter((r) => r.y === c).map((r) => r.x[f]);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
      return { n: v.length, mean, sd, min: Math.min(...v), max: Math.max(...v) };
    });
    const min = Math.min(...per.map((p) => p.min));
    const max = Math.max(...per.map((p) => p.max));
    let best = -Infinity;
    let threshold = NaN;
    for (let i = 1; i <= nSplits; i++) {
      const t = min + ((max - min) / (nSplits + 1)) * i;
      const left = per.map((p) => (t < p.min ? 0 : t >= p.max ? p.n : p.n * 0.5 * (1 + errorFunction((t - p.mean) / (p.sd * Math.SQRT2)))));
      const right = per.map((p, k) => p.n - left[k]);
      const wl = left[0] + left[1];
      const wr = right[0] + right[1];
      if (wl / rows.length <= 0.01 || wr / rows.length <= 0.01) continue;
      const gain = H(counts) - (wl * H(left) + wr * H(right)) / rows.length;
      if (gain > best) (best = gain), (threshold = t);
    }
    return { merit: best, threshold };
  });
  const bound = Math.sqrt((1 * Math.log(1 / delta)) / (2 * rows.length));
  const [lo, hi] = merits[0].merit <= merits[1].merit ? [merits[0], merits[1]] : [merits[1], merits[0]];
  return { split: hi.merit - lo.merit > bound || bound < tau, feature: merits.indexOf(hi), threshold: hi.threshold, bound };
}

describe("Hoeffding tree (River: HoeffdingTreeClassifier, GaussianSplitter)", () => {
  it("splits on the feature that separates, at the first attempt the Hoeffding bound allows", () => {
    const random = seededRandom(11);
    const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    // Feature 0 is noise; feature 1 separates the classes, with overlap, so early attempts cannot tell yet.
    const stream = Array.from({ length: 3000 }, () => {
      const y = random() < 0.5 ? 0 : 1;
      return { x: [normal(), normal() * 1.2 + (y ? 0.9 : -0.9)], y };
    });
    const config = hoeffdingTreeConfig.parse({ kind: "hoeffding-tree", gracePeriod: 100 });
    const tree = new OnlineLearner(config, 2, 2);
    let expected: ReturnType<typeof expectedAttempt> & { at: number } | undefined;
    for (let i = 0; i < stream.length; i++) {
      tree.learnOne(stream[i].x, stream[i].y);
      const state = tree.state as { splits: { feature: number; threshold: number; atWeight: number }[] };
      if ((i + 1) % config.gracePeriod === 0 && !expected) {
        const attempt = expectedAttempt(stream.slice(0, i + 1), config.nSplits, config.delta, config.tau);
        if (attempt.split) expected = { ...attempt, at: i + 1 };
        else expect(state.splits).toHaveLength(0);
      }
      if (expected) break;
    }
    expect(expected, "the stream is long enough for the bound to allow a split").toBeDefined();
    // The bound must have held the split back at least once: the test would not see a too-early split otherwise.
    expect(expected!.at).toBeGreaterThan(config.gracePeriod);
    const [split] = (tree.state as { splits: { feature: number; threshold: number; atWeight: number }[] }).splits;
    expect(split).toMatchObject({ feature: 1, atWeight: expected!.at });
    expect(expected!.feature).toBe(1);
    expect(split.threshold).toBeCloseTo(expected!.threshold, 9);

    // After the split, the tree classifies by the separating feature.
    const p = tree.predictProbaOne([0, 3]);
    expect(p[1]).toBeGreaterThan(p[0]);
    const copy = OnlineLearner.fromSnapshot(tree.snapshot());
    expect(Array.from(copy.predictProbaOne([0.1, -2]))).toEqual(Array.from(tree.predictProbaOne([0.1, -2])));
  });

  it("does not split a pure leaf and refuses labels outside its classes", () => {
    const tree = new OnlineLearner(hoeffdingTreeConfig.parse({ kind: "hoeffding-tree", gracePeriod: 10 }), 2, 3);
    for (let i = 0; i < 50; i++) tree.learnOne([i, -i], 2);
    expect((tree.state as { splits: unknown[] }).splits).toHaveLength(0);
    expect(Array.from(tree.predictProbaOne([1, 1]))).toEqual([0, 0, 1]);
    expect(() => tree.learnOne([1, 1], 3)).toThrow(/outside the learner's 3 classes/);
    expect(() => tree.learnOne([1], 0)).toThrow(/1 features, the learner takes 2/);
  });
});
