/**
 * Thompson sampling over model versions (Thompson 1933; for Bernoulli rewards as in Chapelle and
 * Li, "An Empirical Evaluation of Thompson Sampling", NIPS 2011): each version keeps a
 * Beta(1 + successes, 1 + failures) posterior of its reward rate; each request draws once from
 * every posterior and goes to the largest draw, so traffic moves to the better version as
 * evidence grows while the others keep a share in proportion to the chance they are best.
 * Rewards in [0, 1] that are not 0 or 1 count as one Bernoulli trial with that success chance
 * (Agrawal and Goyal, COLT 2012), which keeps the posterior Beta. Chosen over UCB1 because it
 * needs no tuning and degrades gently under delayed feedback (labels arrive late here).
 * Beta draws come from jStat (a well-kept statistics library), fed by a seeded generator so a
 * run repeats.
 */
import type { BanditStatus } from "../../sdk/api-types";
import { lazyRequire } from "../../sdk/lazy-require";
import { seededRandom } from "../../sdk/random";

export type { BanditStatus };

// Loaded when a bandit first draws, not in every process that has the CL nodes.
const jstat = lazyRequire<{ jStat: { setRandom(fn: () => number): void; beta: { sample(a: number, b: number): number } } }>(import.meta.url, "jstat");

const RECENT = 200;

export class ThompsonBandit {
  private readonly random: () => number;
  private readonly successes: number[];
  private readonly trials: number[];
  private readonly pulls: number[];
  private readonly rewardSums: number[];
  private readonly recent: number[] = [];
  private rewards = 0;

  constructor(readonly versions: readonly number[], seed: number) {
    this.random = seededRandom(seed);
    this.successes = versions.map(() => 0);
    this.trials = versions.map(() => 0);
    this.pulls = versions.map(() => 0);
    this.rewardSums = versions.map(() => 0);
  }

  /** The version this request goes to: the largest draw from the posteriors. */
  choose(): number {
    jstat.jStat.setRandom(this.random);
    let best = 0;
    let bestDraw = -1;
    for (let i = 0; i < this.versions.length; i++) {
      const draw = jstat.jStat.beta.sample(1 + this.successes[i], 1 + this.trials[i] - this.successes[i]);
      if (draw > bestDraw) (best = i), (bestDraw = draw);
    }
    this.pulls[best]++;
    this.recent.push(best);
    if (this.recent.length > RECENT) this.recent.shift();
    return this.versions[best];
  }

  /** A reward in [0, 1] for an answer `version` gave. */
  reward(version: number, value: number): void {
    const i = this.versions.indexOf(version);
    if (i < 0 || !(value >= 0 && value <= 1)) throw new Error(`reward ${value} for ${version}: rewards are in [0, 1] and for one of versions ${this.versions.join(", ")}`);
    const success = value === 1 || (value > 0 && this.random() < value);
    this.trials[i]++;
    if (success) this.successes[i]++;
    this.rewardSums[i] += value;
    this.rewards++;
  }

  status(): BanditStatus {
    const arms = this.versions.map((version, i) => ({
      version,
      pulls: this.pulls[i],
      reward: this.rewardSums[i],
      rewarded: this.trials[i],
      posteriorMean: (1 + this.successes[i]) / (2 + this.trials[i]),
      recentShare: this.recent.length ? this.recent.filter((r) => r === i).length / this.recent.length : 1 / this.versions.length,
    }));
    const leader = arms.reduce((a, b) => (b.posteriorMean > a.posteriorMean ? b : a)).version;
    return { policy: "thompson", arms, pulls: this.pulls.reduce((a, b) => a + b, 0), rewards: this.rewards, leader, at: new Date().toISOString() };
  }
}
