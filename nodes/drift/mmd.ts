import { PythonRandom } from "./random";

export interface MMDOptions {
  /** Permutations of the pooled sample used for the p-value (Alibi Detect's default: 100). */
  nPermutations?: number;
  /** RBF bandwidth; by default the median heuristic on the pooled sample, as Alibi Detect. */
  sigma?: number;
  /** Seed of the permutations (Python-compatible generator), so results are reproducible. */
  seed?: number;
}

export interface MMDResult {
  /** Unbiased estimate of MMD² between the two samples. */
  statistic: number;
  /** Share of permutations whose MMD² is at least the observed one. */
  pValue: number;
  /** The bandwidth used. */
  sigma: number;
  /** MMD² of each permutation (see `mmdThreshold`). */
  permuted: Float64Array;
}

/** A sample of d-dimensional points: rows of numbers, or one flat array per point. */
export type Points = ArrayLike<ArrayLike<number>>;

/**
 * Maximum Mean Discrepancy two-sample test with a Gaussian RBF kernel
 * k(x, y) = exp(−‖x − y‖² / (2σ²)) and a permutation test, as Alibi Detect's
 * `MMDDrift` (numpy backend) computes it: σ from the median heuristic
 * (σ² = median of the pairwise squared distances / 2, diagonal left out), the
 * unbiased MMD² with a zeroed kernel diagonal, and p = share of permuted MMD² ≥
 * the observed one. Permutations are drawn from a seeded Python-compatible
 * generator, so a seed gives the same p-value every time.
 *
 * Cost: the pooled kernel matrix ((n+m)² doubles) plus O(nPermutations · m · (n+m)).
 *
 * @example
 * ```ts
 * import { mmdTest } from "./mmd";
 * const reference = Array.from({ length: 50 }, (_, i) => [Math.sin(i), Math.cos(i)]);
 * const shifted = Array.from({ length: 50 }, (_, i) => [Math.sin(i) + 1, Math.cos(i)]);
 * console.log(mmdTest(reference, shifted, { seed: 0 }).pValue);
 * console.log(mmdTest(reference, reference.slice().reverse(), { seed: 0 }).pValue > 0.05);
 * // 0
 * // true
 * ```
 */
export function mmdTest(reference: Points, current: Points, { nPermutations = 100, sigma, seed = 0 }: MMDOptions = {}): MMDResult {
  const n = reference.length;
  const m = current.length;
  if (n < 2 || m < 2) throw new Error("MMD needs at least two points in each sample");
  const dim = reference[0].length;
  const N = n + m;
  const data = new Float64Array(N * dim);
  [reference, current].forEach((sample, s) => {
    for (let i = 0; i < sample.length; i++) {
      const point = sample[i];
      if (point.length !== dim) throw new Error(`every point needs ${dim} dimensions, point ${i} of the ${s ? "current" : "reference"} sample has ${point.length}`);
      for (let d = 0; d < dim; d++) data[(s * n + i) * dim + d] = point[d];
    }
  });

  // Pairwise squared distances, upper triangle, then turned into the kernel in place.
  const K = new Float64Array(N * N);
  const upper = new Float64Array((N * (N - 1)) / 2);
  let u = 0;
  for (let i = 0; i < N; i++)
    for (let j = i + 1; j < N; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const diff = data[i * dim + d] - data[j * dim + d];
        s += diff * diff;
      }
      K[i * N + j] = s;
      upper[u++] = s;
    }
  const bandwidth = sigma ?? Math.sqrt(0.5 * lowerMedian(upper));
  const scale = bandwidth > 0 ? -1 / (2 * bandwidth * bandwidth) : -Infinity;
  for (let i = 0; i < N; i++)
    for (let j = i + 1; j < N; j++) {
      const k = Math.exp(K[i * N + j] * scale);
      K[i * N + j] = k;
      K[j * N + i] = k;
    }
  // K's diagonal stays 0: the unbiased estimate leaves self-similarity out.

  // Row sums of K, so each permutation only sums the rows of its Y sample against
  // a 0/1 mask (branch-free): sYY = Σ_{i∈Y} K[i]·mask, sXY = Σ_{i∈Y} rowSum[i] − that.
  const rowSum = new Float64Array(N);
  let total = 0;
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let j = 0; j < N; j++) s += K[i * N + j];
    rowSum[i] = s;
    total += s;
  }
  const inY = new Float64Array(N);
  const order = new Int32Array(N);
  for (let i = 0; i < N; i++) order[i] = i;

  const mmd2 = (): number => {
    let sYY = 0;
    let sXY = 0;
    for (let i = 0; i < N; i++) {
      if (!inY[i]) continue;
      const row = i * N;
      let s = 0;
      for (let j = 0; j < N; j++) s += K[row + j] * inY[j];
      sYY += s;
      sXY += rowSum[i] - s;
    }
    const sXX = total - sYY - 2 * sXY;
    return sXX / (n * (n - 1)) + sYY / (m * (m - 1)) - (2 * sXY) / (n * m);
  };

  for (let i = n; i < N; i++) inY[i] = 1;
  const statistic = mmd2();
  const rng = new PythonRandom(seed);
  const permuted = new Float64Array(nPermutations);
  let atLeast = 0;
  for (let p = 0; p < nPermutations; p++) {
    rng.shuffle(order);
    inY.fill(0);
    for (let i = n; i < N; i++) inY[order[i]] = 1;
    permuted[p] = mmd2();
    if (statistic <= permuted[p]) atLeast++;
  }
  return { statistic, pValue: nPermutations ? atLeast / nPermutations : NaN, sigma: bandwidth, permuted };
}

/**
 * Alibi Detect's `distance_threshold`: the permuted MMD² at rank ⌊alpha · n⌋ from the top
 * (`np.sort(permuted)[::-1][int(alpha * n)]`).
 */
export function mmdThreshold(permuted: Float64Array, alpha: number): number {
  const sorted = Float64Array.from(permuted).sort();
  return sorted[Math.max(0, sorted.length - 1 - Math.floor(alpha * sorted.length))];
}

/** Element at index ⌊(T − 1) / 2⌋ of the sorted values (T = count), by quickselect; reorders `values`. */
function lowerMedian(values: Float64Array): number {
  const k = Math.floor((values.length - 1) / 2);
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k];
}
