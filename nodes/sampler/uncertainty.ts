/**
 * Uncertainty sampling for active learning: how informative one prediction is, and which of
 * a window of requests to send to labelers.
 *
 * Scores are all in [0, 1], higher = more worth a label (Settles, "Active Learning Literature
 * Survey", 3.1):
 * - least confidence: 1 − max p;
 * - margin: 1 − (p₁ − p₂), the two most likely classes;
 * - entropy: −Σ p log p / log K (normalised by its largest value);
 * - random: a seeded uniform draw, the baseline the others are measured against.
 *
 * Selection is by windows of requests, so the budget goes to the most uncertain of each
 * window rather than to whichever uncertain request came first, and one burst cannot spend
 * a day's budget: a window sends at most `perWindow` items. Diversity: an item whose input
 * is within `minDistance` (cosine distance) of one already picked in this window or among
 * the last `recentPicks` is skipped — a burst of near-identical requests (a stuck camera,
 * a retrying client) earns one label, not many.
 *
 * @example
 * ```ts
 * const picker = new WindowPicker({ windowSize: 100, perWindow: 5, minDistance: 0.02 });
 * const picks = picker.offer({ score: 0.9, features: x, item: request }, budgetLeft); // picks once the window is full
 * ```
 */
import type { LabelGuess } from "../../sdk";

export const STRATEGIES = ["least-confidence", "margin", "entropy", "random"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Probabilities from a model's scores: used as they are when they already are a distribution (`auto`), else a softmax. */
export function toProbabilities(scores: ArrayLike<number>, kind: "auto" | "probabilities" | "logits" = "auto"): Float64Array {
  const p = Float64Array.from(scores as ArrayLike<number>);
  if (p.length < 2) throw new Error(`uncertainty needs scores for at least two classes, got ${p.length}`);
  if (p.some((v) => !Number.isFinite(v))) throw new Error("the scores hold a NaN or infinite value");
  let sum = 0;
  for (const v of p) sum += v;
  const isDistribution = p.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
  if (kind === "probabilities" || (kind === "auto" && isDistribution)) {
    if (!isDistribution) throw new Error(`the scores are not probabilities (they sum to ${sum.toFixed(4)}): set scoresAre to "logits"`);
    return p;
  }
  const max = Math.max(...p);
  let total = 0;
  for (let i = 0; i < p.length; i++) total += p[i] = Math.exp(p[i] - max);
  for (let i = 0; i < p.length; i++) p[i] /= total;
  return p;
}

/** The two largest probabilities. */
function topTwo(p: ArrayLike<number>): [number, number] {
  let [a, b] = [-Infinity, -Infinity];
  for (let i = 0; i < p.length; i++) {
    if (p[i] > a) [a, b] = [p[i], a];
    else if (p[i] > b) b = p[i];
  }
  return [a, b];
}

/** How informative a prediction is under `strategy`, in [0, 1]; `random` needs the draw. */
export function uncertainty(p: ArrayLike<number>, strategy: Strategy, random?: () => number): number {
  switch (strategy) {
    case "least-confidence":
      return 1 - topTwo(p)[0];
    case "margin": {
      const [a, b] = topTwo(p);
      return 1 - (a - b);
    }
    case "entropy": {
      let h = 0;
      for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
      return h / Math.log(p.length);
    }
    case "random":
      if (!random) throw new Error("random sampling needs a generator");
      return random();
  }
}

/** The `k` most likely classes, most likely first. */
export function topGuesses(p: ArrayLike<number>, k: number, names?: readonly string[]): LabelGuess[] {
  return Array.from(p, (v, label) => ({ label, p: v }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k)
    .map((g) => ({ ...g, ...(names?.[g.label] !== undefined ? { name: names[g.label] } : {}) }));
}

/** 1 − cosine similarity; 1 for a zero vector (nothing to compare: never a near-duplicate). */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 1;
  let [dot, na, nb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 1 : 1 - dot / Math.sqrt(na * nb);
}

export interface Candidate<T = unknown> {
  score: number;
  /** What diversity compares (the request's input, or its probabilities when the input is not numeric). */
  features: ArrayLike<number>;
  item: T;
}

export interface WindowOptions {
  /** Requests in one window. */
  windowSize: number;
  /** Items one window may send at most. */
  perWindow: number;
  /** Cosine distance under which an input counts as a near-duplicate of a picked one (0: off). */
  minDistance: number;
  /** Only requests scoring at least this are candidates. */
  minScore?: number;
  /** Picks remembered across windows for the diversity check. */
  recentPicks?: number;
}

export class WindowPicker<T = unknown> {
  private window: Candidate<T>[] = [];
  private seen = 0;
  private readonly recent: ArrayLike<number>[] = [];
  /** Candidates dropped as near-duplicates so far. */
  duplicates = 0;

  constructor(private readonly options: WindowOptions) {}

  /** Requests offered in the current, unfinished window. */
  get pending(): number {
    return this.seen;
  }

  /** Offers one scored request; when it completes the window, returns what to send (at most `budgetLeft`). */
  offer(candidate: Candidate<T>, budgetLeft: number): Candidate<T>[] | undefined {
    this.seen++;
    if (candidate.score >= (this.options.minScore ?? 0)) this.window.push(candidate);
    return this.seen >= this.options.windowSize ? this.flush(budgetLeft) : undefined;
  }

  /** Ends the current window (full, or a timer's for quiet streams): the most informative, diverse items. */
  flush(budgetLeft: number): Candidate<T>[] {
    const candidates = this.window.sort((a, b) => b.score - a.score);
    this.window = [];
    this.seen = 0;
    const limit = Math.max(0, Math.min(this.options.perWindow, budgetLeft));
    const picked: Candidate<T>[] = [];
    for (const c of candidates) {
      if (picked.length >= limit) break;
      const near = (other: ArrayLike<number>) => cosineDistance(c.features, other) < this.options.minDistance;
      if (this.options.minDistance > 0 && (picked.some((p) => near(p.features)) || this.recent.some(near))) {
        this.duplicates++;
        continue;
      }
      picked.push(c);
    }
    for (const p of picked) this.recent.push(p.features);
    this.recent.splice(0, Math.max(0, this.recent.length - (this.options.recentPicks ?? 100)));
    return picked;
  }
}
