/**
 * Kernel SHAP (Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions"):
 * Shapley values of one prediction, for any model that scores rows.
 *
 * A coalition z ⊆ features is valued as v(z) = mean over the background rows b of
 * f(x where z, b elsewhere): features outside the coalition are "missing", filled from the
 * background (the interventional form SHAP's KernelExplainer uses). Then:
 * - exact: with at most `exactMaxFeatures` features every one of the 2^M coalitions is valued
 *   and the Shapley formula is applied as it is;
 * - sampled: coalition sizes s are drawn with the Shapley kernel's total weight per size,
 *   (M−1)/(s(M−s)), each with its complement (paired sampling), and the attributions are the
 *   least-squares fit of v(z) − v(∅) ≈ Σ φᵢzᵢ under the constraint Σ φᵢ = f(x) − v(∅).
 *   Sampling by the kernel makes every sample's weight equal, so the fit is ordinary least squares.
 * For an additive model (a linear one) v is linear in z, so both give φᵢ = wᵢ(xᵢ − mean(bᵢ)).
 */
import type * as MlMatrix from "ml-matrix";
import { lazyRequire, seededRandom } from "../../sdk";

// Loaded at the first explanation, not in every process that has the explain nodes.
const mlMatrix = lazyRequire<typeof MlMatrix>(import.meta.url, "ml-matrix");

/** Scores rows (each a full input, features in order): the explained output of the model for each. */
export type RowScorer = (rows: Float64Array[]) => Promise<Float64Array>;

/** Told after each call of the scorer: model rows scored so far, of how many. */
export type ExplainProgress = (done: number, total: number) => void;

export interface KernelShapOptions {
  /** At or under this many features every coalition is valued: exact Shapley values. */
  exactMaxFeatures: number;
  /** Coalitions sampled (pairs count twice) when there are more features. */
  samples: number;
  seed: number;
}

export interface ShapResult {
  /** One attribution per feature; they sum to `score − baseValue`. */
  values: Float64Array;
  /** v(∅): the mean score over the background. */
  baseValue: number;
  /** f(x). */
  score: number;
  exact: boolean;
  /** Coalitions valued, the empty and the full one included. */
  coalitions: number;
}

/** The largest exact enumeration allowed: 2^16 coalitions, each costing one row per background row. */
export const MAX_EXACT_FEATURES = 16;

export async function kernelShap(x: Float64Array, background: Float64Array[], score: RowScorer, options: KernelShapOptions, progress?: ExplainProgress): Promise<ShapResult> {
  const m = x.length;
  if (m === 0) throw new Error("nothing to explain: the input has no features");
  if (background.length === 0) throw new Error("Kernel SHAP needs at least one background row");
  for (const [i, b] of background.entries()) if (b.length !== m) throw new Error(`background row ${i} has ${b.length} features, the input ${m}`);
  const exact = m <= Math.min(options.exactMaxFeatures, MAX_EXACT_FEATURES);
  const masks = exact ? allMasks(m) : sampledMasks(m, options.samples, seededRandom(options.seed));
  const values = await coalitionValues(x, background, masks, score, progress);
  const baseValue = values[0];
  const full = values[1];
  const attributions = exact ? shapleyFormula(m, masks, values) : constrainedFit(m, masks, values, baseValue, full);
  return { values: attributions, baseValue, score: full, exact, coalitions: masks.length };
}

/** A coalition: which features come from x (1) and which from the background (0). */
type Mask = Uint8Array;

/** Every coalition, in the order of its bits; the empty one first and the full one second, as sampledMasks puts them. */
function allMasks(m: number): Mask[] {
  const out: Mask[] = [new Uint8Array(m), new Uint8Array(m).fill(1)];
  for (let bits = 1; bits < (1 << m) - 1; bits++) {
    const mask = new Uint8Array(m);
    for (let i = 0; i < m; i++) mask[i] = (bits >> i) & 1;
    out.push(mask);
  }
  return out;
}

/** The empty and full coalitions, then `samples` more in complementary pairs, sizes drawn by the Shapley kernel. */
function sampledMasks(m: number, samples: number, random: () => number): Mask[] {
  const out: Mask[] = [new Uint8Array(m), new Uint8Array(m).fill(1)];
  if (m < 2) return out;
  // Total kernel weight of the coalitions of each size s (1..m−1): (m−1)/(s(m−s)), as a cumulative distribution.
  const cumulative: number[] = [];
  let total = 0;
  for (let s = 1; s < m; s++) cumulative.push((total += (m - 1) / (s * (m - s))));
  const indices = Array.from({ length: m }, (_, i) => i);
  for (let k = 0; k < Math.ceil(samples / 2); k++) {
    const u = random() * total;
    const size = cumulative.findIndex((c) => u < c) + 1 || m - 1;
    // A partial Fisher–Yates shuffle picks `size` features uniformly.
    for (let i = 0; i < size; i++) {
      const j = i + Math.floor(random() * (m - i));
      [indices[i], indices[j]] = [indices[j], indices[i]];
    }
    const mask = new Uint8Array(m);
    for (let i = 0; i < size; i++) mask[indices[i]] = 1;
    out.push(mask, mask.map((b) => 1 - b));
  }
  return out;
}

/** Rows scored per call, so a large enumeration never holds all its rows at once (and progress can be told). */
export const ROWS_PER_CALL = 4096;

/** v(z) for each coalition: the mean score of x blended with every background row. */
async function coalitionValues(x: Float64Array, background: Float64Array[], masks: Mask[], score: RowScorer, progress?: ExplainProgress): Promise<Float64Array> {
  const values = new Float64Array(masks.length);
  const perCall = Math.max(1, Math.floor(ROWS_PER_CALL / background.length));
  for (let first = 0; first < masks.length; first += perCall) {
    const group = masks.slice(first, first + perCall);
    const rows: Float64Array[] = [];
    for (const mask of group)
      for (const b of background) {
        const row = Float64Array.from(b);
        for (let i = 0; i < mask.length; i++) if (mask[i]) row[i] = x[i];
        rows.push(row);
      }
    const scores = await score(rows);
    for (let c = 0; c < group.length; c++) {
      let sum = 0;
      for (let r = 0; r < background.length; r++) sum += scores[c * background.length + r];
      values[first + c] = sum / background.length;
    }
    progress?.((first + group.length) * background.length, masks.length * background.length);
  }
  return values;
}

/** φᵢ = Σ over coalitions S without i of |S|!(M−|S|−1)!/M! · (v(S ∪ {i}) − v(S)). */
function shapleyFormula(m: number, masks: Mask[], values: Float64Array): Float64Array {
  const byBits = new Float64Array(1 << m);
  masks.forEach((mask, c) => (byBits[mask.reduce((bits, b, i) => bits | (b << i), 0)] = values[c]));
  const factorial = [1];
  for (let i = 1; i <= m; i++) factorial.push(factorial[i - 1] * i);
  const phi = new Float64Array(m);
  for (let bits = 0; bits < 1 << m; bits++) {
    let size = 0;
    for (let i = 0; i < m; i++) size += (bits >> i) & 1;
    const weight = (factorial[size] * factorial[m - size - 1]) / factorial[m];
    for (let i = 0; i < m; i++) if (!((bits >> i) & 1)) phi[i] += weight * (byBits[bits | (1 << i)] - byBits[bits]);
  }
  return phi;
}

/**
 * Least squares of v(z) − v(∅) on z with Σφ = f(x) − v(∅), the last feature eliminated:
 * v(z) − v(∅) − z_M·Δ = Σ_{i<M} φᵢ(zᵢ − z_M), by its normal equations with a vanishing ridge,
 * so a sample that leaves some feature undetermined (fewer samples than features) gets the
 * least-norm answer rather than an error. Cholesky from ml-matrix; the Gram matrix is summed here
 * over typed arrays because ml-matrix's own product (and its SVD, 5.5 s for 514 × 783) took
 * seconds on the shapes 784-pixel inputs give.
 */
function constrainedFit(m: number, masks: Mask[], values: Float64Array, base: number, full: number): Float64Array {
  const delta = full - base;
  if (m === 1) return Float64Array.of(delta);
  const n = m - 1;
  const gram = new Float64Array(n * n);
  const rhs = new Float64Array(n);
  const row = new Float64Array(n);
  // The empty and full coalitions are the constraint's two ends; the fit uses the samples between.
  for (let r = 2; r < masks.length; r++) {
    const mask = masks[r];
    const last = mask[m - 1];
    const y = values[r] - base - last * delta;
    const nonzero: number[] = [];
    for (let i = 0; i < n; i++) if ((row[i] = mask[i] - last) !== 0) nonzero.push(i);
    for (const i of nonzero) {
      rhs[i] += row[i] * y;
      for (const j of nonzero) gram[i * n + j] += row[i] * row[j];
    }
  }
  let trace = 0;
  for (let i = 0; i < n; i++) trace += gram[i * n + i];
  const ridge = 1e-10 * Math.max(trace / n, 1);
  const { CholeskyDecomposition, Matrix } = mlMatrix;
  const g = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g.set(i, j, gram[i * n + j] + (i === j ? ridge : 0));
  const fitted = new CholeskyDecomposition(g).solve(Matrix.columnVector(Array.from(rhs))).getColumn(0);
  const phi = new Float64Array(m);
  phi.set(fitted);
  phi[m - 1] = delta - fitted.reduce((s, v) => s + v, 0);
  return phi;
}
