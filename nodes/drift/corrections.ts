/**
 * Multiple-testing corrections for drift over several features at once, as Alibi
 * Detect applies them: Bonferroni (drift when any p-value is below α / features)
 * or the Benjamini–Hochberg false discovery rate procedure (drift when any sorted
 * p-value p_(k) is below k/m · α), with Alibi Detect's strict comparisons.
 *
 * @example
 * ```ts
 * import { correctedDrift } from "./corrections";
 * console.log(correctedDrift([0.001, 0.2, 0.04], 0.05, "bonferroni").driftedFeatures);
 * console.log(correctedDrift([0.3, 0.04, 0.001, 0.02], 0.05, "fdr").driftedFeatures);
 * // [ 0 ]
 * // [ 2, 3 ]
 * ```
 */
export type Correction = "bonferroni" | "fdr";

export interface CorrectedResult {
  isDrift: boolean;
  /** The p-value threshold that applied (for FDR: the largest rejected rank's k/m · α, or α/m when none). */
  threshold: number;
  /** Indexes of the features found drifting. */
  driftedFeatures: number[];
}

export function correctedDrift(pValues: readonly number[], alpha: number, correction: Correction): CorrectedResult {
  const m = pValues.length;
  if (m === 0) return { isDrift: false, threshold: alpha, driftedFeatures: [] };
  if (correction === "bonferroni") {
    const threshold = alpha / m;
    const driftedFeatures = pValues.flatMap((p, i) => (p < threshold ? [i] : []));
    return { isDrift: driftedFeatures.length > 0, threshold, driftedFeatures };
  }
  // Benjamini–Hochberg: reject the k smallest p-values, k the largest rank with p_(k) < k/m · α
  // (strictly, as Alibi Detect's `fdr`).
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  let k = 0;
  order.forEach(([p], rank) => {
    if (p < ((rank + 1) / m) * alpha) k = rank + 1;
  });
  const driftedFeatures = order.slice(0, k).map(([, i]) => i).sort((a, b) => a - b);
  return { isDrift: k > 0, threshold: k > 0 ? (k / m) * alpha : alpha / m, driftedFeatures };
}
