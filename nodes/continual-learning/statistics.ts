/**
 * The statistics that live tests judge by: the canary's one-sided accuracy bound, and the A/B
 * test's always-valid sequential test (mSPRT).
 */

/** Count, mean and variance of a stream of observations (Welford's update: stable for long streams). */
export class RunningMoments {
  count = 0;
  mean = 0;
  private m2 = 0;
  add(x: number): void {
    this.count++;
    const d = x - this.mean;
    this.mean += d / this.count;
    this.m2 += d * (x - this.mean);
  }
  /** Sample variance (n − 1); 0 below two observations. */
  get variance(): number {
    return this.count > 1 ? this.m2 / (this.count - 1) : 0;
  }
}

export interface SequentialResult {
  /** Candidate mean minus champion mean. */
  difference: number;
  /** Variance of that difference: s²_champion/n_champion + s²_candidate/n_candidate. */
  variance: number;
  /** The mixture likelihood ratio Λ against "no difference". */
  likelihoodRatio: number;
  /** Always-valid p-value of this look alone, min(1, 1/Λ); the test keeps the running minimum. */
  pValue: number;
  /** Always-valid (1 − α) confidence interval of the difference. */
  interval: [number, number];
}

/**
 * The mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh,
 * "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations Research 70(3), 2022;
 * the test behind Optimizely's Stats Engine), for the difference θ of two means with a normal
 * mixture N(0, τ²) over θ:
 *   Λ = sqrt(V / (V + τ²)) · exp(τ² Δ² / (2 V (V + τ²)))
 * with Δ the observed difference and V its variance (the paper's 2σ²/n, here with each arm's own
 * plug-in variance and count, which also covers unequal arms). Rejecting θ = 0 once Λ ≥ 1/α keeps
 * the type-I error at α however often one looks (for Bernoulli data, asymptotically, through the
 * plug-in variance). The interval is the set of θ₀ the same test would not reject.
 */
export function mixtureSprt(champion: RunningMoments, candidate: RunningMoments, tau: number, alpha: number): SequentialResult {
  const difference = candidate.mean - champion.mean;
  // A floor keeps Λ finite when both arms are constant (e.g. every answer right so far).
  const variance = Math.max(champion.variance / champion.count + candidate.variance / candidate.count, 1e-12);
  const t2 = tau * tau;
  const logRatio = 0.5 * Math.log(variance / (variance + t2)) + (t2 * difference * difference) / (2 * variance * (variance + t2));
  const halfWidth = Math.sqrt(((2 * variance * (variance + t2)) / t2) * (Math.log(1 / alpha) + 0.5 * Math.log((variance + t2) / variance)));
  return { difference, variance, likelihoodRatio: Math.exp(logRatio), pValue: Math.min(1, Math.exp(-logRatio)), interval: [difference - halfWidth, difference + halfWidth] };
}

/**
 * The lower confidence bound of the champion's accuracy minus the candidate's, from their labelled
 * answers (normal approximation of the difference of two proportions).
 */
export function lowestAccuracyDrop(champion: { right: number; labelled: number }, candidate: { right: number; labelled: number }, confidence: number): number {
  const [ha, ca] = [champion.right / champion.labelled, candidate.right / candidate.labelled];
  const se = Math.sqrt((ha * (1 - ha)) / champion.labelled + (ca * (1 - ca)) / candidate.labelled);
  return ha - ca - normalQuantile(confidence) * se;
}

/**
 * The standard normal quantile, by Acklam's rational approximation (relative error < 1.2e-9): written
 * here because it is one function and none of our dependencies exports it.
 */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

