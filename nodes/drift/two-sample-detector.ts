/**
 * The windows of a two-sample drift detector, apart from any node: a reference (the first
 * `referenceSize` values, or given) and the last `window` values, tested every `every` values
 * once full; after a drift the drifted window becomes the reference (`adopt-current`). The
 * drift nodes (two-sample-nodes.ts) run one per node; `evoflow drift eval` runs one over a
 * stream with River's `update(x)` / `driftDetected`, an alarm being the value whose test drifted.
 *
 * @example
 * ```ts
 * import { TwoSampleDetector } from "./two-sample-detector";
 * const mean = (w) => w.reduce((s, v) => s + Number(v[0]), 0) / w.length;
 * const d = new TwoSampleDetector({ referenceSize: 3, window: 3, afterDrift: "adopt-current" }, (ref, cur) => {
 *   const gap = Math.abs(mean(cur) - mean(ref));
 *   return { drift: gap > 1, statistic: gap, threshold: 1, magnitude: gap, reason: `mean moved by ${gap}` };
 * });
 * [1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5].forEach((x, i) => d.update([x]).driftDetected && console.log(i, d.lastTest.outcome.reason));
 * // 8 mean moved by 4
 * ```
 */
import { Ring } from "../../sdk/ring";
import type { DriftEvent } from "./event";

export type Value = number | string;
export type Vector = ArrayLike<Value>;

export interface TestOutcome {
  drift: boolean;
  statistic: number;
  pValue?: number;
  threshold: number;
  magnitude: number;
  feature?: number | number[];
  features?: DriftEvent["features"];
  reason: string;
}

export interface WindowConfig {
  referenceSize: number;
  /** Reference values given instead of the first `referenceSize`. */
  reference?: Vector[];
  window: number;
  /** Test every this many values once the window is full; default `window` (windows do not overlap). */
  every?: number;
  afterDrift: "adopt-current" | "keep-reference";
  /** Indexes of the features tested; all when absent. */
  features?: number[];
}

/** The test a detector runs: the reference window against the current one, on the features selected. */
export type TwoSampleTest = (reference: Vector[], current: Vector[], features: number[]) => TestOutcome;

/** What the last update's test saw, when that update ran one. */
export interface TestRun {
  outcome: TestOutcome;
  window: Vector[];
  /** The ids given with the window's values, oldest first. */
  ids: string[];
  /** The reference's size when it was tested (before a drifted window replaced it). */
  referenceSize: number;
}

export class TwoSampleDetector {
  /** Values seen, reference ones included. */
  values = 0;
  tests = 0;
  drifts = 0;
  /** The test the last update ran; undefined when it ran none. */
  lastTest: TestRun | undefined;
  private reference: Vector[];
  private readonly referenceGiven: boolean;
  private current: Ring<Vector>;
  private currentIds: Ring<string>;
  private sinceTest = 0;

  constructor(
    private readonly config: WindowConfig,
    private readonly test: TwoSampleTest,
  ) {
    this.reference = config.reference ? [...config.reference] : [];
    this.referenceGiven = config.reference !== undefined;
    this.current = new Ring<Vector>(config.window);
    this.currentIds = new Ring<string>(config.window);
  }

  get driftDetected(): boolean {
    return this.lastTest?.outcome.drift ?? false;
  }

  get referenceLength(): number {
    return this.reference.length;
  }

  get currentLength(): number {
    return Math.min(this.current.total, this.config.window);
  }

  /** The features a value has, from the first one kept; undefined before any. */
  get width(): number | undefined {
    return (this.reference[0] ?? this.current.toArray(1)[0])?.length;
  }

  /** The features tested for values of `width` features; throws naming one that does not exist. */
  selectFeatures(width: number): number[] {
    const features = this.config.features ?? Array.from({ length: width }, (_, i) => i);
    const outside = features.find((f) => f >= width);
    if (outside !== undefined) throw new Error(`feature ${outside} does not exist: the watched value has ${width}`);
    return features;
  }

  /** Adds a value (its message's id for events), testing when a window is due. */
  update(value: Vector, id = ""): this {
    this.lastTest = undefined;
    this.values++;
    if (!this.referenceGiven && this.reference.length < this.config.referenceSize && this.tests === 0) {
      this.reference.push(value);
      return this;
    }
    this.current.push(value);
    this.currentIds.push(id);
    this.sinceTest++;
    if (this.currentLength < this.config.window || this.sinceTest < (this.config.every ?? this.config.window)) return this;
    this.sinceTest = 0;
    this.tests++;
    const window = this.current.toArray();
    const outcome = this.test(this.reference, window, this.selectFeatures(value.length));
    this.lastTest = { outcome, window, ids: this.currentIds.toArray(), referenceSize: this.reference.length };
    if (!outcome.drift) return this;
    this.drifts++;
    if (this.config.afterDrift === "adopt-current") {
      this.reference = window;
      this.current = new Ring<Vector>(this.config.window);
      this.currentIds = new Ring<string>(this.config.window);
    }
    return this;
  }
}
