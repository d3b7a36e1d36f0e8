/**
 * Population Stability Index, as Evidently computes it:
 * PSI = Σ (ref% − cur%) · ln(ref% / cur%) over bins, with empty shares replaced by
 * 0.0001. Numeric values are binned on `bins` equal-width bins spanning the
 * reference (numpy's `histogram_bin_edges(reference, bins)`; current values outside
 * that range are not counted, as numpy's histogram does). Drift is usually called
 * at PSI ≥ 0.1 (Evidently's default threshold), 0.25 being a major shift.
 *
 * @example
 * ```ts
 * import { populationStabilityIndex } from "./psi";
 * const reference = [1, 2, 2, 3, 3, 3, 4, 4, 5, 6];
 * const current = [3, 4, 4, 5, 5, 5, 6, 6, 6, 6];
 * console.log(populationStabilityIndex(reference, current, 5).toFixed(9));
 * // 3.055609096
 * ```
 */
export function populationStabilityIndex(reference: ArrayLike<number>, current: ArrayLike<number>, bins = 10): number {
  if (reference.length === 0 || current.length === 0) throw new Error("PSI needs two non-empty samples");
  const edges = binEdges(reference, bins);
  return psiFromShares(shares(histogram(reference, edges), reference.length), shares(histogram(current, edges), current.length));
}

/** PSI of two count (or share) vectors over the same categories. */
export function psiFromCounts(referenceCounts: ArrayLike<number>, currentCounts: ArrayLike<number>): number {
  const total = (c: ArrayLike<number>) => {
    let sum = 0;
    for (let i = 0; i < c.length; i++) sum += c[i];
    return sum;
  };
  return psiFromShares(shares(referenceCounts, total(referenceCounts)), shares(currentCounts, total(currentCounts)));
}

function psiFromShares(ref: Float64Array, cur: Float64Array): number {
  let psi = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] === 0 ? 0.0001 : ref[i];
    const c = cur[i] === 0 ? 0.0001 : cur[i];
    psi += (r - c) * Math.log(r / c);
  }
  return psi;
}

function shares(counts: ArrayLike<number>, total: number): Float64Array {
  const out = new Float64Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = counts[i] / total;
  return out;
}

/** numpy.histogram_bin_edges(values, bins) for an integer bin count. */
export function binEdges(values: ArrayLike<number>, bins: number): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < lo) lo = values[i];
    if (values[i] > hi) hi = values[i];
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const edges = new Float64Array(bins + 1);
  // numpy.linspace: start + i * step, last edge exactly `hi`.
  const step = (hi - lo) / bins;
  for (let i = 0; i <= bins; i++) edges[i] = lo + i * step;
  edges[bins] = hi;
  return edges;
}

/** numpy.histogram counts: bins are [e_i, e_{i+1}), the last one closed. */
export function histogram(values: ArrayLike<number>, edges: Float64Array): Float64Array {
  const bins = edges.length - 1;
  const counts = new Float64Array(bins);
  const lo = edges[0];
  const hi = edges[bins];
  const norm = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!(x >= lo && x <= hi)) continue;
    // numpy computes the bin from the uniform width, then corrects against the edges.
    let b = Math.floor((x - lo) * norm);
    if (b >= bins) b = bins - 1;
    if (x < edges[b]) b--;
    else if (b + 1 < bins && x >= edges[b + 1]) b++;
    counts[b]++;
  }
  return counts;
}
