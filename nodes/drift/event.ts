/** The payload a drift node emits on its `drift` port (an `event<drift>`). */
export interface DriftEvent {
  kind: "drift";
  /** Detector family: "adwin", "ks", … */
  detector: string;
  /** Feature index (or indexes) found drifting, when the node watches features. */
  feature?: number | number[];
  /** The test statistic (see each detector). */
  statistic: number;
  /** Two-sample and KSWIN tests: the p-value (corrected threshold in `threshold`). */
  pValue?: number;
  /** What the statistic (or p-value) was compared with. */
  threshold: number;
  /**
   * Size of the shift. Streaming detectors: statistic relative to the threshold
   * (0 = none, 1 = at the drift line). Two-sample tests: the distance between the
   * windows — KS D, Cramér's V (chi-square), PSI, normed Wasserstein, MMD².
   */
  magnitude: number;
  /** The data the decision was made on. */
  window: { size: number; firstMessage?: string; lastMessage?: string; reference?: number; from?: number; to?: number };
  /** Values the node had seen when it fired (0-based index of the value that fired). */
  index: number;
  /** One sentence a person can read on the dashboard. */
  reason: string;
  /** Per-feature results, for multi-feature tests. */
  features?: { feature: number; statistic: number; pValue?: number; drift: boolean }[];
}
