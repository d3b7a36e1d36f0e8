/**
 * First Wasserstein (earth mover's) distance between two 1-D samples: the area
 * between their empirical CDFs. The same value as SciPy's
 * `stats.wasserstein_distance(u, v)` (unweighted).
 *
 * Evidently's drift test divides it by the reference's standard deviation
 * ("normed Wasserstein") and calls drift at ≥ 0.1: see `normedWasserstein`.
 *
 * @example
 * ```ts
 * import { wassersteinDistance } from "./wasserstein";
 * console.log(wassersteinDistance([0, 1, 3], [5, 6, 8]));
 * // 5
 * ```
 */
export function wassersteinDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  const a = Float64Array.from(u).sort();
  const b = Float64Array.from(v).sort();
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) throw new Error("Wasserstein distance needs two non-empty samples");
  // Walk the pooled sorted values; between consecutive ones both CDFs are constant.
  let i = 0;
  let j = 0;
  let distance = 0;
  let prev = Math.min(a[0], b[0]);
  while (i < n || j < m) {
    const x = j >= m || (i < n && a[i] <= b[j]) ? a[i] : b[j];
    distance += Math.abs(i / n - j / m) * (x - prev);
    while (i < n && a[i] === x) i++;
    while (j < m && b[j] === x) j++;
    prev = x;
  }
  return distance;
}

/** Wasserstein distance divided by the reference's (population) standard deviation, as Evidently's drift test. */
export function normedWasserstein(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < reference.length; i++) mean += reference[i];
  mean /= reference.length;
  let sq = 0;
  for (let i = 0; i < reference.length; i++) sq += (reference[i] - mean) ** 2;
  const std = Math.sqrt(sq / reference.length);
  const distance = wassersteinDistance(reference, current);
  return std === 0 ? (distance === 0 ? 0 : Infinity) : distance / std;
}
