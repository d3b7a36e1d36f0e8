/**
 * River's `linear_model.LogisticRegression` (optimizer `SGD(0.01)`, `Log` loss, intercept_lr 0.01,
 * l2 0, clip_gradient 1e12, zero initial weights) behind `multiclass.OneVsRestClassifier`, which
 * River uses for more than two classes: one binary model per class, created when the class is first
 * seen, every model learning from every example (y == its class); probabilities are the models'
 * P(true) normalised to sum to 1.
 *
 * One step of a binary model on (x, y ∈ {0, 1}): raw = w·x + b; g = Log.gradient(y, raw) = σ(raw) − y
 * (River's form, with its ±18 guards); g clipped; b −= intercept_lr·g; w −= lr·(g·x + 2·l2·w).
 */
import { z } from "zod";

export const logisticRegressionConfig = z.object({
  kind: z.literal("logistic-regression"),
  learningRate: z.number().positive().default(0.01).describe("SGD learning rate of the weights (River: optim.SGD(0.01))"),
  interceptLearningRate: z.number().min(0).default(0.01).describe("Learning rate of the intercept (River: intercept_lr=0.01)"),
  l2: z.number().min(0).default(0).describe("L2 penalty (River: l2=0)"),
  clipGradient: z.number().positive().default(1e12).describe("Bound on the loss gradient (River: clip_gradient=1e12)"),
});
export type LogisticRegressionConfig = z.output<typeof logisticRegressionConfig>;

export interface BinaryModel {
  weights: number[];
  intercept: number;
}

export interface LogisticRegressionState {
  /** Classes in the order first seen (River keeps its models in that order). */
  classes: number[];
  models: BinaryModel[];
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** River's `optim.losses.Log.gradient(y_true, y_pred)` for y_true ∈ {false, true}. */
export function logLossGradient(positive: boolean, raw: number): number {
  const y = positive ? 1 : -1;
  const z = raw * y;
  if (z > 18) return -y * Math.exp(-z);
  if (z < -18) return -y;
  return -y / (Math.exp(z) + 1);
}

export class OnlineLogisticRegression {
  constructor(
    readonly config: LogisticRegressionConfig,
    readonly features: number,
    readonly state: LogisticRegressionState = { classes: [], models: [] },
  ) {}

  private raw(m: BinaryModel, x: ArrayLike<number>): number {
    let z = m.intercept;
    for (let i = 0; i < this.features; i++) z += m.weights[i] * x[i];
    return z;
  }

  learnOne(x: ArrayLike<number>, y: number): void {
    if (!this.state.classes.includes(y)) (this.state.classes.push(y), this.state.models.push({ weights: new Array(this.features).fill(0), intercept: 0 }));
    const { learningRate, interceptLearningRate, l2, clipGradient } = this.config;
    this.state.classes.forEach((c, k) => {
      const m = this.state.models[k];
      const g = Math.max(-clipGradient, Math.min(clipGradient, logLossGradient(c === y, this.raw(m, x))));
      m.intercept -= interceptLearningRate * g;
      for (let i = 0; i < this.features; i++) m.weights[i] -= learningRate * (g * x[i] + 2 * l2 * m.weights[i]);
    });
  }

  /** P(class) for the classes seen, normalised (River's OneVsRestClassifier.predict_proba_one). */
  predictProbaOne(x: ArrayLike<number>): Map<number, number> {
    const p = new Map<number, number>();
    this.state.classes.forEach((c, k) => p.set(c, sigmoid(this.raw(this.state.models[k], x))));
    const total = [...p.values()].reduce((a, b) => a + b, 0);
    if (total) for (const [c, v] of p) p.set(c, v / total);
    return p;
  }
}
