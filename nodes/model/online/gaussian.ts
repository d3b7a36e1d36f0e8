/**
 * River's `proba.Gaussian` on `stats.Var` (ddof 1): a weighted running mean and variance
 * (Welford/West), its density and cumulative distribution. Plain JSON, so a learner's state
 * snapshots as it is.
 */
import { errorFunction } from "simple-statistics";

export interface GaussianState {
  /** Total weight seen (River's `n_samples`). */
  n: number;
  mean: number;
  /** Σ w·(x − mean_old)·(x − mean_new). */
  s: number;
}

export const newGaussian = (): GaussianState => ({ n: 0, mean: 0, s: 0 });

export function updateGaussian(g: GaussianState, x: number, w = 1): void {
  const old = g.mean;
  g.n += w;
  g.mean += (w / g.n) * (x - old);
  g.s += w * (x - old) * (x - g.mean);
}

export function variance(g: GaussianState): number {
  return g.n > 1 ? g.s / (g.n - 1) : 0;
}

/** Density; 0 where the variance is 0, as River's. */
export function gaussianPdf(g: GaussianState, x: number): number {
  const v = variance(g);
  return v ? Math.exp((x - g.mean) ** 2 / (-2 * v)) / Math.sqrt(2 * Math.PI * v) : 0;
}

/** P(X ≤ x); 0 where the deviation is 0 (River's ZeroDivisionError branch). simple-statistics' erf is within 1.2e-7 of the exact one. */
export function gaussianCdf(g: GaussianState, x: number): number {
  const sigma = Math.sqrt(variance(g));
  return sigma ? 0.5 * (1 + errorFunction((x - g.mean) / (sigma * Math.SQRT2))) : 0;
}
