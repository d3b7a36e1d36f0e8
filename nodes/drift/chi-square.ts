import { chiSquareSf } from "./special";

export interface ChiSquareResult {
  statistic: number;
  pValue: number;
  /** Degrees of freedom: categories − 1. */
  dof: number;
}

/**
 * Chi-square test of homogeneity for a categorical feature: are the category
 * counts of the reference and of the current window drawn from the same
 * distribution? The same statistic and p-value as SciPy's
 * `stats.chi2_contingency([referenceCounts, currentCounts])` (so Yates' continuity
 * correction when there is one degree of freedom), which is how Alibi Detect's
 * `ChiSquareDrift` scores a feature. Categories seen in neither sample must be left
 * out (their expected count would be 0).
 *
 * @example
 * ```ts
 * import { chiSquareTest } from "./chi-square";
 * const r = chiSquareTest([30, 30, 40], [20, 35, 45]);
 * console.log(r.statistic.toFixed(9), r.pValue.toFixed(9), r.dof);
 * // 2.678733032 0.262011596 2
 * ```
 */
export function chiSquareTest(referenceCounts: ArrayLike<number>, currentCounts: ArrayLike<number>): ChiSquareResult {
  const k = referenceCounts.length;
  if (currentCounts.length !== k) throw new Error("both count vectors need one entry per category");
  let refTotal = 0;
  let curTotal = 0;
  for (let i = 0; i < k; i++) {
    refTotal += referenceCounts[i];
    curTotal += currentCounts[i];
  }
  const total = refTotal + curTotal;
  if (refTotal === 0 || curTotal === 0) throw new Error("both samples need at least one observation");
  const dof = k - 1;
  if (dof === 0) return { statistic: 0, pValue: 1, dof };
  let statistic = 0;
  for (let i = 0; i < k; i++) {
    const column = referenceCounts[i] + currentCounts[i];
    if (column === 0) throw new Error(`category ${i} has no observation in either sample`);
    for (const [observed, rowTotal] of [
      [referenceCounts[i], refTotal],
      [currentCounts[i], curTotal],
    ]) {
      const expected = (rowTotal * column) / total;
      let diff = observed - expected;
      if (dof === 1) diff = Math.sign(diff) * Math.max(0, Math.abs(diff) - Math.min(0.5, Math.abs(diff))); // Yates
      statistic += (diff * diff) / expected;
    }
  }
  return { statistic, pValue: chiSquareSf(statistic, dof), dof };
}

/** Counts of each category in `values`, over the given category list (others are counted in `unseen`). */
export function countCategories(values: Iterable<number | string>, categories: readonly (number | string)[]): { counts: number[]; unseen: number } {
  const index = new Map(categories.map((c, i) => [c, i]));
  const counts = new Array<number>(categories.length).fill(0);
  let unseen = 0;
  for (const v of values) {
    const i = index.get(v);
    if (i === undefined) unseen++;
    else counts[i]++;
  }
  return { counts, unseen };
}
