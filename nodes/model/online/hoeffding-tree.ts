/**
 * River's `tree.HoeffdingTreeClassifier` (VFDT) with its defaults: numeric features observed by
 * `GaussianSplitter(n_splits=10)`, information gain (`InfoGainSplitCriterion`, min_branch_fraction
 * 0.01), `merit_preprune` (the null split is a candidate), max_share_to_split 0.99, binary splits
 * `x[f] <= threshold` → left, leaf prediction "nba" (naive Bayes adaptive).
 *
 * A leaf tries to split each time it has seen `gracePeriod` more weight since its last attempt,
 * unless its classes are pure. The candidates, sorted by merit: the null split (merit −∞), each
 * feature's best threshold. With the Hoeffding bound ε = √(R²·ln(1/δ) / 2n), R = log2(max(classes, 2)),
 * it splits on the best when best − second best > ε, or when ε < τ (a tie); a chosen null split, or
 * a leaf whose majority class exceeds max_share_to_split, deactivates the leaf. Ties between classes
 * go to the lowest class index (River's go to the class seen first).
 */
import { z } from "zod";
import { gaussianCdf, gaussianPdf, newGaussian, updateGaussian, type GaussianState } from "./gaussian";

export const hoeffdingTreeConfig = z.object({
  kind: z.literal("hoeffding-tree"),
  gracePeriod: z.number().int().min(1).max(10_000_000).default(200).describe("Weight a leaf sees between split attempts (River: grace_period=200) (at most 10,000,000)"),
  delta: z.number().positive().max(1).default(1e-7).describe("Split confidence δ of the Hoeffding bound (River: delta=1e-7)"),
  tau: z.number().min(0).default(0.05).describe("Tie threshold τ: split anyway once the bound is below it (River: tau=0.05)"),
  maxDepth: z.number().int().min(1).max(1000).optional().describe("Deepest a leaf may be; unset: no limit (River: max_depth=None) (at most 1,000)"),
  nSplits: z.number().int().min(1).max(1000).default(10).describe("Thresholds a Gaussian splitter evaluates between a feature's min and max (River: n_splits=10)"),
  minBranchFraction: z.number().min(0).max(0.5).default(0.01).describe("A split needs two branches with more than this share of the weight (River: min_branch_fraction=0.01)"),
  maxShareToSplit: z.number().min(0).max(1).default(0.99).describe("A leaf whose majority class has more than this share stops splitting (River: max_share_to_split=0.99)"),
  leafPrediction: z.enum(["nba", "nb", "mc"]).default("nba").describe("mc: majority class; nb: naive Bayes; nba: whichever has been right more often at that leaf (River's default)"),
  nbThreshold: z.number().min(0).default(0).describe("Weight a leaf needs before naive Bayes predicts (River: nb_threshold=0)"),
});
export type HoeffdingTreeConfig = z.output<typeof hoeffdingTreeConfig>;

type Dist = Record<string, number>;
interface ClassGaussian extends GaussianState {
  min: number;
  max: number;
}
/** One feature's GaussianSplitter: a Gaussian and the min/max per class. */
type Splitter = Record<string, ClassGaussian>;

export interface Leaf {
  kind: "leaf";
  depth: number;
  stats: Dist;
  /** null once deactivated. */
  splitters: Splitter[] | null;
  lastSplitAttemptAt: number;
  mcCorrect: number;
  nbCorrect: number;
}
export interface Branch {
  kind: "branch";
  depth: number;
  stats: Dist;
  feature: number;
  threshold: number;
  /** [x ≤ threshold, x > threshold]. */
  children: [TreeNode, TreeNode];
}
export type TreeNode = Leaf | Branch;

export interface HoeffdingTreeState {
  root?: TreeNode;
  classes: number[];
  /** Splits made, oldest first, with the weight the tree had seen then: what the tests and docs read. */
  splits: { feature: number; threshold: number; depth: number; atWeight: number; merit: number; secondMerit: number; bound: number }[];
  weightSeen: number;
}

interface Suggestion {
  merit: number;
  feature?: number;
  threshold?: number;
  children?: [Dist, Dist];
}

const total = (d: Dist) => Object.values(d).reduce((a, b) => a + b, 0);
const argmax = (d: Map<number, number> | Dist): number | undefined => {
  let best: number | undefined;
  let value = -Infinity;
  for (const [k, v] of d instanceof Map ? d : Object.entries(d)) if (v > value || (v === value && best !== undefined && Number(k) < best)) (best = Number(k)), (value = v);
  return best;
};

/** Entropy in bits of a class distribution. */
export function entropy(d: Dist): number {
  const s = total(d);
  if (s <= 0) return 0;
  let h = 0;
  for (const v of Object.values(d)) if (v > 0) h -= (v / s) * Math.log2(v / s);
  return h;
}

/** InfoGainSplitCriterion.merit_of_split: −∞ unless two branches hold more than `minFraction` of the weight. */
export function infoGain(pre: Dist, post: Dist[], minFraction: number): number {
  const weights = post.map(total);
  const all = weights.reduce((a, b) => a + b, 0);
  if (!(all > 0) || weights.filter((w) => w / all > minFraction).length < 2) return -Infinity;
  return entropy(pre) - post.reduce((h, d, i) => h + weights[i] * entropy(d), 0) / all;
}

export function hoeffdingBound(range: number, delta: number, n: number): number {
  return Math.sqrt((range * range * Math.log(1 / delta)) / (2 * n));
}

export class HoeffdingTree {
  constructor(
    readonly config: HoeffdingTreeConfig,
    readonly features: number,
    readonly state: HoeffdingTreeState = { classes: [], splits: [], weightSeen: 0 },
  ) {}

  private newLeaf(stats: Dist, depth: number): Leaf {
    return { kind: "leaf", depth, stats, splitters: [], lastSplitAttemptAt: total(stats), mcCorrect: 0, nbCorrect: 0 };
  }

  private sort(x: ArrayLike<number>): { leaf: TreeNode; parent?: Branch; side: 0 | 1 } {
    let node = this.state.root!;
    let parent: Branch | undefined;
    let side: 0 | 1 = 0;
    while (node.kind === "branch") {
      parent = node;
      side = x[node.feature] <= node.threshold ? 0 : 1;
      node = node.children[side];
    }
    return { leaf: node, parent, side };
  }

  learnOne(x: ArrayLike<number>, y: number, w = 1): void {
    if (!this.state.classes.includes(y)) this.state.classes.push(y);
    this.state.weightSeen += w;
    this.state.root ??= this.newLeaf({}, 0);
    const { leaf, parent, side } = this.sort(x) as { leaf: Leaf; parent?: Branch; side: 0 | 1 };
    const active = leaf.splitters !== null;
    if (active && this.config.leafPrediction === "nba") {
      if (Object.keys(leaf.stats).length === 0 || argmax(leaf.stats) === y) leaf.mcCorrect += w;
      const nb = naiveBayes(x, leaf.stats, leaf.splitters);
      if (nb && argmax(nb) === y) leaf.nbCorrect += w;
    }
    leaf.stats[y] = (leaf.stats[y] ?? 0) + w;
    if (!leaf.splitters) return;
    for (let f = 0; f < this.features; f++) {
      const splitter = (leaf.splitters[f] ??= {});
      const g = splitter[y];
      if (!g) splitter[y] = { ...newGaussian(), min: x[f], max: x[f] };
      else (g.min = Math.min(g.min, x[f])), (g.max = Math.max(g.max, x[f]));
      updateGaussian(splitter[y], x[f], w);
    }
    if (this.config.maxDepth !== undefined && leaf.depth >= this.config.maxDepth) {
      leaf.splitters = null;
      return;
    }
    const seen = total(leaf.stats);
    if (seen - leaf.lastSplitAttemptAt >= this.config.gracePeriod) {
      this.attemptSplit(leaf, parent, side);
      leaf.lastSplitAttemptAt = seen;
    }
  }

  private suggestions(leaf: Leaf): Suggestion[] {
    const n = total(leaf.stats);
    if (Math.max(...Object.values(leaf.stats)) / n > this.config.maxShareToSplit) return [{ merit: -Infinity }];
    const out: Suggestion[] = [{ merit: -Infinity }];
    leaf.splitters!.forEach((splitter, feature) => out.push(this.bestThreshold(splitter, leaf.stats, feature)));
    return out;
  }

  /** GaussianSplitter.best_evaluated_split_suggestion: n_splits evenly spaced thresholds strictly inside [min, max]. */
  private bestThreshold(splitter: Splitter, pre: Dist, feature: number): Suggestion {
    let best: Suggestion = { merit: -Infinity };
    const classes = Object.values(splitter);
    const min = Math.min(...classes.map((g) => g.min));
    const max = Math.max(...classes.map((g) => g.max));
    const bin = (max - min) / (this.config.nSplits + 1);
    for (let i = 0; i < this.config.nSplits; i++) {
      const threshold = min + bin * (i + 1);
      if (!(min < threshold && threshold < max)) continue;
      const left: Dist = {};
      const right: Dist = {};
      for (const [c, g] of Object.entries(splitter)) {
        if (threshold < g.min) right[c] = g.n;
        else if (threshold >= g.max) left[c] = g.n;
        else (left[c] = gaussianCdf(g, threshold) * g.n), (right[c] = g.n - left[c]);
      }
      const merit = infoGain(pre, [left, right], this.config.minBranchFraction);
      if (merit > best.merit) best = { merit, feature, threshold, children: [left, right] };
    }
    return best;
  }

  private attemptSplit(leaf: Leaf, parent: Branch | undefined, side: 0 | 1): void {
    if (Object.values(leaf.stats).filter((v) => v !== 0).length < 2) return;
    // A stable sort, as Python's: equal merits keep their order (the null split first).
    const ranked = this.suggestions(leaf).sort((a, b) => (a.merit === b.merit ? 0 : a.merit < b.merit ? -1 : 1));
    const best = ranked.at(-1)!;
    let bound = NaN;
    let split = ranked.length === 1;
    if (ranked.length >= 2) {
      bound = hoeffdingBound(Math.log2(Math.max(Object.keys(leaf.stats).length, 2)), this.config.delta, total(leaf.stats));
      split = best.merit - ranked.at(-2)!.merit > bound || bound < this.config.tau;
    }
    if (!split) return;
    if (best.feature === undefined) {
      leaf.splitters = null; // pre-pruned: the null split won
      return;
    }
    const branch: Branch = {
      kind: "branch",
      depth: leaf.depth,
      stats: leaf.stats,
      feature: best.feature,
      threshold: best.threshold!,
      children: [this.newLeaf(best.children![0], leaf.depth + 1), this.newLeaf(best.children![1], leaf.depth + 1)],
    };
    if (parent) parent.children[side] = branch;
    else this.state.root = branch;
    this.state.splits.push({ feature: best.feature, threshold: best.threshold!, depth: leaf.depth, atWeight: this.state.weightSeen, merit: best.merit, secondMerit: ranked.at(-2)?.merit ?? -Infinity, bound });
  }

  predictProbaOne(x: ArrayLike<number>): Map<number, number> {
    const p = new Map<number, number>(this.state.classes.map((c) => [c, 0]));
    if (!this.state.root) return p;
    const { leaf } = this.sort(x) as { leaf: Leaf };
    const active = leaf.splitters !== null;
    const n = total(leaf.stats);
    const useNb = active && (this.config.leafPrediction === "nba" ? leaf.nbCorrect >= leaf.mcCorrect : this.config.leafPrediction === "nb" && n >= this.config.nbThreshold);
    const votes = (useNb && naiveBayes(x, leaf.stats, leaf.splitters)) || (n > 0 ? new Map(Object.entries(leaf.stats).map(([c, v]) => [Number(c), v / n])) : undefined);
    for (const [c, v] of votes ?? []) p.set(c, v);
    return p;
  }
}

/** River's do_naive_bayes_prediction: log prior + Σ log pdf (a zero density adds nothing), normalised by log-sum-exp. */
function naiveBayes(x: ArrayLike<number>, stats: Dist, splitters: Splitter[] | null): Map<number, number> | undefined {
  const n = total(stats);
  if (!Object.keys(stats).length || n === 0) return undefined;
  const votes = new Map<number, number>();
  for (const [c, weight] of Object.entries(stats)) {
    if (weight <= 0) {
      votes.set(Number(c), 0);
      continue;
    }
    let ll = Math.log(weight / n);
    (splitters ?? []).forEach((splitter, f) => {
      const g = splitter[c];
      const d = g ? gaussianPdf(g, x[f]) : 0;
      if (d > 0) ll += Math.log(d);
    });
    votes.set(Number(c), ll);
  }
  const top = Math.max(...votes.values());
  const lse = top + Math.log([...votes.values()].reduce((a, v) => a + Math.exp(v - top), 0));
  for (const [c, v] of votes) votes.set(c, Math.exp(v - lse));
  return votes;
}
