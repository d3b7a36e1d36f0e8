/**
 * Continual-learning regularisers and rehearsal, as Avalanche defines them (REFERENCE.md):
 * - EWC: loss += λ·Σ F·(θ − θ*)², F = mean over minibatches of squared gradients; online
 *   mode keeps one F: F_t = decay·F_{t−1} + F_new (Avalanche's `mode="online"`, `decay_factor`).
 * - LwF: loss += α·KL(softmax(old/T) ‖ softmax(new/T)) over previously seen classes, batch mean
 *   (Avalanche's `kl_div(log_softmax(new/T), softmax(old/T), reduction="batchmean")`).
 * - Replay: a class-balanced buffer of `memSize` examples, concatenated to each experience.
 */
import type * as TF from "@tensorflow/tfjs";
import type { LabelledSet } from "./fashion-mnist";

/** λ·Σ_i F_i·(θ_i − θ*_i)² over every parameter tensor. */
export function ewcPenalty(tf: typeof TF, params: TF.Tensor[], fisher: Float32Array[], anchor: Float32Array[], lambda: number): TF.Scalar {
  return tf.tidy(() => {
    let sum: TF.Scalar = tf.scalar(0);
    params.forEach((p, i) => {
      const diff = p.sub(tf.tensor(anchor[i], p.shape));
      sum = sum.add(tf.tensor(fisher[i], p.shape).mul(diff.square()).sum());
    });
    return sum.mul(lambda);
  });
}

/** Online EWC's running importance: decay·previous + fresh (fresh alone the first time). */
export function combineFisher(previous: Float32Array[] | undefined, fresh: Float32Array[], decay: number): Float32Array[] {
  if (!previous) return fresh;
  return fresh.map((f, i) => {
    const out = new Float32Array(f.length);
    for (let k = 0; k < f.length; k++) out[k] = decay * previous[i][k] + f[k];
    return out;
  });
}

/** α·KL(softmax(old/T) ‖ softmax(new/T)) on the columns `activeUnits`, averaged over the batch. */
export function lwfPenalty(tf: typeof TF, newLogits: TF.Tensor2D, oldLogits: TF.Tensor2D, activeUnits: number[], alpha: number, temperature: number): TF.Scalar {
  return tf.tidy(() => {
    // Columns are picked by a 0/1 selection matrix, not tf.gather: gather's gradient needs a kernel the wasm backend lacks.
    const classes = newLogits.shape[1];
    const pick = new Float32Array(classes * activeUnits.length);
    activeUnits.forEach((unit, j) => (pick[unit * activeUnits.length + j] = 1));
    const select = tf.tensor2d(pick, [classes, activeUnits.length]);
    const logP = tf.logSoftmax(newLogits.matMul(select).div(temperature));
    const logQ = tf.logSoftmax(oldLogits.matMul(select).div(temperature));
    const kl = tf.exp(logQ).mul(logQ.sub(logP)).sum();
    return kl.div(newLogits.shape[0]).mul(alpha) as TF.Scalar;
  });
}

/** A seeded class-balanced rehearsal buffer: each seen class gets memSize / classes slots, filled by reservoir sampling within the class. */
export class ClassBalancedBuffer {
  private readonly perClass = new Map<number, { rows: Float32Array[]; seen: number }>();

  constructor(
    readonly memSize: number,
    readonly features: number,
    private readonly random: () => number,
  ) {}

  add(set: LabelledSet): void {
    for (let i = 0; i < set.count; i++) {
      const y = set.y[i];
      let slot = this.perClass.get(y);
      if (!slot) this.perClass.set(y, (slot = { rows: [], seen: 0 }));
      slot.seen++;
      const row = set.x.slice(i * set.features, (i + 1) * set.features);
      if (slot.rows.length < this.memSize) slot.rows.push(row);
      else {
        const j = Math.floor(this.random() * slot.seen);
        if (j < slot.rows.length) slot.rows[j] = row;
      }
    }
  }

  /** The buffer's contents with each class trimmed to its share of memSize. */
  contents(): LabelledSet {
    const classes = [...this.perClass.keys()].sort((a, b) => a - b);
    const share = Math.max(1, Math.floor(this.memSize / Math.max(1, classes.length)));
    const rows: Float32Array[] = [];
    const labels: number[] = [];
    for (const c of classes) {
      const slot = this.perClass.get(c)!;
      slot.rows = slot.rows.slice(0, share);
      for (const r of slot.rows) (rows.push(r), labels.push(c));
    }
    const x = new Float32Array(rows.length * this.features);
    rows.forEach((r, i) => x.set(r, i * this.features));
    return { x, y: Int32Array.from(labels), count: rows.length, features: this.features };
  }

  static from(set: LabelledSet, memSize: number, random: () => number): ClassBalancedBuffer {
    const buffer = new ClassBalancedBuffer(memSize, set.features, random);
    buffer.add(set);
    return buffer;
  }
}

export function concatSets(a: LabelledSet, b: LabelledSet): LabelledSet {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  if (a.features !== b.features) throw new Error(`cannot join sets of ${a.features} and ${b.features} features`);
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x);
  x.set(b.x, a.x.length);
  const y = new Int32Array(a.count + b.count);
  y.set(a.y);
  y.set(b.y, a.count);
  return { x, y, count: a.count + b.count, features: a.features };
}

export type Scenario = "NC" | "NI" | "NIC";

/**
 * CORe50's scenarios, chosen by rule from the collected data: only classes the model has
 * not seen → new classes (NC); only seen classes → new instances (NI); both → NIC.
 * The first training (nothing seen yet) counts as NC.
 */
export function chooseScenario(seenClasses: readonly number[], dataClasses: readonly number[]): { scenario: Scenario; newClasses: number[] } {
  const seen = new Set(seenClasses);
  const newClasses = [...new Set(dataClasses)].filter((c) => !seen.has(c)).sort((a, b) => a - b);
  const oldPresent = dataClasses.some((c) => seen.has(c));
  const scenario: Scenario = newClasses.length === 0 ? "NI" : oldPresent ? "NIC" : "NC";
  return { scenario, newClasses };
}

/**
 * The newest `perClass` examples of every class seen: the validator's holdout. Every class
 * seen so far stays represented, each by its most recent examples, so after a domain shift
 * the gate judges a candidate on the data it will serve rather than on the old domain.
 */
export class RecentPerClass {
  private readonly rows = new Map<number, Float32Array[]>();

  constructor(
    readonly perClass: number,
    readonly features: number,
  ) {}

  add(x: Float32Array, y: number): void {
    let list = this.rows.get(y);
    if (!list) this.rows.set(y, (list = []));
    list.push(x);
    if (list.length > this.perClass) list.shift();
  }

  get count(): number {
    let n = 0;
    for (const list of this.rows.values()) n += list.length;
    return n;
  }

  contents(): LabelledSet {
    const classes = [...this.rows.keys()].sort((a, b) => a - b);
    const x = new Float32Array(this.count * this.features);
    const y: number[] = [];
    for (const c of classes) for (const row of this.rows.get(c)!) (x.set(row, y.length * this.features), y.push(c));
    return { x, y: Int32Array.from(y), count: y.length, features: this.features };
  }
}
