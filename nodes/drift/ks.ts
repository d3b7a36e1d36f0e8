import { kolmogorovSf } from "./special";

export type KsMethod = "auto" | "exact" | "asymp";

export interface KsResult {
  /** D: the largest distance between the two empirical CDFs. */
  statistic: number;
  pValue: number;
  /** The method the p-value came from ("exact" may fall back to "asymp", as SciPy does). */
  method: "exact" | "asymp";
}

/** Samples of up to this size get the exact p-value under "auto", as in SciPy. */
const MAX_AUTO_N = 10000;

/**
 * Two-sided two-sample Kolmogorov–Smirnov test, as SciPy's
 * `stats.ks_2samp(a, b, method=...)`: the same statistic, and the same p-value —
 * exact (Hodges' lattice-path counting) for samples up to 10,000, Smirnov's
 * asymptotic distribution (`kstwo.sf(D, round(n·m/(n+m)))`) beyond.
 * Inputs are not modified.
 *
 * @example
 * ```ts
 * import { ksTwoSample } from "./ks";
 * const r = ksTwoSample([0.1, 0.4, 0.7], [0.5, 0.9, 1.3, 2.0]);
 * console.log(r.statistic, r.pValue.toFixed(12), r.method);
 * // 0.75 0.228571428571 exact
 * ```
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = "auto"): KsResult {
  return ksTwoSampleSorted(Float64Array.from(a).sort(), Float64Array.from(b).sort(), method);
}

/** `ksTwoSample` on samples already sorted ascending (no copy: KSWIN calls it on every value). */
export function ksTwoSampleSorted(sorted1: ArrayLike<number>, sorted2: ArrayLike<number>, method: KsMethod = "auto"): KsResult {
  const n1 = sorted1.length;
  const n2 = sorted2.length;
  if (n1 === 0 || n2 === 0) throw new Error("ks_2samp needs two non-empty samples");
  const statistic = ksStatistic(sorted1, sorted2);
  let mode: "exact" | "asymp" = method === "auto" ? (Math.max(n1, n2) <= MAX_AUTO_N ? "exact" : "asymp") : method;
  const g = gcd(n1, n2);
  if (mode === "exact" && n1 / g >= 2147483647 / (n2 / g)) mode = "asymp";
  if (mode === "exact") {
    const exact = exactPValue(n1, n2, g, statistic);
    if (exact !== undefined) return { statistic: exact.d, pValue: exact.p, method: "exact" };
    mode = "asymp";
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic, pValue: Math.min(1, Math.max(0, kolmogorovSf(Math.round(en), statistic))), method: "asymp" };
}

/** max |F1 − F2| over the pooled values, for sorted samples (ties handled as SciPy's searchsorted 'right'). */
export function ksStatistic(sorted1: ArrayLike<number>, sorted2: ArrayLike<number>): number {
  const n1 = sorted1.length;
  const n2 = sorted2.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n1 && j < n2) {
    const x = sorted1[i] <= sorted2[j] ? sorted1[i] : sorted2[j];
    while (i < n1 && sorted1[i] <= x) i++;
    while (j < n2 && sorted2[j] <= x) j++;
    const diff = Math.abs(i / n1 - j / n2);
    if (diff > d) d = diff;
  }
  return d;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function exactPValue(n1: number, n2: number, g: number, d: number): { d: number; p: number } | undefined {
  const lcm = (n1 / g) * n2;
  const h = Math.round(d * lcm);
  const dRounded = h / lcm;
  if (h === 0) return { d: dRounded, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
  if (!Number.isFinite(p) || p < 0 || p > 1) return undefined;
  return { d: dRounded, p };
}

/** P(D_{n,n} ≥ h/n), Horner-like alternating sum (SciPy's `_compute_prob_outside_square`). */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/**
 * Proportion of lattice paths from (0,0) to (m,n) that leave the band
 * |x/m − y/n| < h/lcm(m,n): Hodges' inside method computing 1 − p directly
 * (Viehmann, 2021), as SciPy's `_compute_outer_prob_inside_method`.
 */
function outerProbInside(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(Math.max(lenA, n + 2)).fill(1);
  for (let j = minj; j < maxj; j++) A[j] = 0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj] * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) for (let t = maxj - minj; t < maxj - minj + (lastlen - curlen); t++) A[t] = 1;
  }
  return A[maxj - minj - 1];
}
