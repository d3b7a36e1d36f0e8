/**
 * Continual-learning metrics with Avalanche's definitions (REFERENCE.md). The accuracy
 * matrix M[t][e] is the accuracy, after training step t, on experience e's test data;
 * a step evaluates the experiences seen so far (e ≤ t), so later cells are null.
 * - average accuracy after step t: mean of M[t][e] over e ≤ t;
 * - forgetting on e < T: M[e][e] (when e was first learnt) − M[T][e] (now); the mean over e < T.
 *   "First learnt" is the first row that scored e: the diagonal in Avalanche's setting, and still
 *   right when rows are only the accepted updates (a rejected update adds an experience, no row);
 * - BWT = −forgetting, i.e. mean over e < T of M[T][e] − M[e][e].
 */
import type { AccuracyMatrix } from "../../sdk/api-types";

export type { AccuracyMatrix };

export interface ClMetrics {
  accuracyMatrix: AccuracyMatrix;
  averageAccuracy: number;
  /** Per past experience, and their mean (0 when there is no past experience yet). */
  forgettingPerExperience: number[];
  forgetting: number;
  bwt: number;
}

export function clMetrics(matrix: AccuracyMatrix): ClMetrics {
  const T = matrix.length - 1;
  if (T < 0) return { accuracyMatrix: [], averageAccuracy: NaN, forgettingPerExperience: [], forgetting: 0, bwt: 0 };
  const last = matrix[T];
  const seen = last.filter((v): v is number => v !== null);
  const forgettingPerExperience: number[] = [];
  for (let e = 0; e < last.length; e++) {
    const firstRow = matrix.slice(0, T).find((row) => row[e] !== null && row[e] !== undefined);
    const now = last[e];
    if (firstRow && now !== null && now !== undefined) forgettingPerExperience.push(firstRow[e]! - now);
  }
  const forgetting = forgettingPerExperience.length ? mean(forgettingPerExperience) : 0;
  return { accuracyMatrix: matrix, averageAccuracy: seen.length ? mean(seen) : NaN, forgettingPerExperience, forgetting, bwt: 0 - forgetting };
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
