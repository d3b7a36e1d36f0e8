/**
 * An online learner and its registry snapshot, format "online-json": the UTF-8 JSON document
 *
 *   { "format": "online-json", "formatVersion": 1,
 *     "learner": { "kind": "logistic-regression" | "hoeffding-tree", ...its config },
 *     "features": 784, "classes": 10, "updates": 1200,
 *     "state": ... }
 *
 * `state` is the learner's whole state as it learns: for logistic regression the classes in the
 * order first seen and one {weights[features], intercept} per class; for the Hoeffding tree the
 * node tree (leaves with class weights, per-feature per-class Gaussian {n, mean, s, min, max},
 * split-attempt and naive-Bayes counters; branches with feature, threshold and two children) and the
 * log of its splits. Loading a snapshot and learning on gives exactly what the live learner would.
 */
import { z } from "zod";
import { HoeffdingTree, hoeffdingTreeConfig, type HoeffdingTreeState } from "./hoeffding-tree";
import { logisticRegressionConfig, OnlineLogisticRegression, type LogisticRegressionState } from "./logistic-regression";

export const learnerConfig = z.discriminatedUnion("kind", [logisticRegressionConfig, hoeffdingTreeConfig]);
export type LearnerConfig = z.output<typeof learnerConfig>;

export const ONLINE_FORMAT = "online-json";

export interface OnlineSnapshot {
  format: typeof ONLINE_FORMAT;
  formatVersion: 1;
  learner: LearnerConfig;
  features: number;
  classes: number;
  updates: number;
  state: LogisticRegressionState | HoeffdingTreeState;
}

/** A learner over `features` inputs answering with `classes` probabilities (class index = column). */
export class OnlineLearner {
  private readonly model: OnlineLogisticRegression | HoeffdingTree;
  updates: number;

  constructor(
    readonly config: LearnerConfig,
    readonly features: number,
    readonly classes: number,
    state?: OnlineSnapshot["state"],
    updates = 0,
  ) {
    this.model = config.kind === "logistic-regression" ? new OnlineLogisticRegression(config, features, state as LogisticRegressionState | undefined) : new HoeffdingTree(config, features, state as HoeffdingTreeState | undefined);
    this.updates = updates;
  }

  /** Throws, with the reason, on an example this learner cannot take. */
  check(x: ArrayLike<number>, y: number): void {
    if (x.length !== this.features) throw new Error(`x has ${x.length} features, the learner takes ${this.features}`);
    if (!Number.isInteger(y) || y < 0 || y >= this.classes) throw new Error(`label ${y} is outside the learner's ${this.classes} classes`);
  }

  learnOne(x: ArrayLike<number>, y: number): void {
    this.check(x, y);
    this.model.learnOne(x, y);
    this.updates++;
  }

  /** Probabilities of every class (0 for classes not seen yet). */
  predictProbaOne(x: ArrayLike<number>): Float32Array {
    if (x.length !== this.features) throw new Error(`x has ${x.length} features, the learner takes ${this.features}`);
    const out = new Float32Array(this.classes);
    for (const [c, p] of this.model.predictProbaOne(x)) out[c] = p;
    return out;
  }

  get state(): OnlineSnapshot["state"] {
    return this.model.state;
  }

  snapshot(): Uint8Array {
    const doc: OnlineSnapshot = { format: ONLINE_FORMAT, formatVersion: 1, learner: this.config, features: this.features, classes: this.classes, updates: this.updates, state: this.model.state };
    return new TextEncoder().encode(JSON.stringify(doc));
  }

  static fromSnapshot(bytes: Uint8Array): OnlineLearner {
    let doc: OnlineSnapshot;
    try {
      doc = JSON.parse(new TextDecoder().decode(bytes)) as OnlineSnapshot;
    } catch (err) {
      throw new Error(`not an online-json snapshot: ${(err as Error).message}`);
    }
    if (doc?.format !== ONLINE_FORMAT || doc.formatVersion !== 1) throw new Error(`not an online-json snapshot (format ${JSON.stringify(doc?.format)}, version ${JSON.stringify(doc?.formatVersion)})`);
    const config = learnerConfig.parse(doc.learner);
    return new OnlineLearner(config, doc.features, doc.classes, doc.state, doc.updates);
  }
}
