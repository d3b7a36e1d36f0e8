/**
 * Synaptic Intelligence (Zenke, Poole & Ganguli 2017, "Continual Learning Through Synaptic
 * Intelligence"). While a task trains, each parameter k accumulates its share of the drop in loss,
 * the path integral ω_k = Σ_steps −g_k·Δθ_k, where g is the gradient of the task's own loss (the
 * objective without SI's surrogate: "unregularised" in the paper) and Δθ the step the optimizer took.
 * At the end of the task the importance is consolidated,
 *   Ω_k ← Ω_k + ω_k / (Δ_k² + ξ),   Δ_k = θ_k(end of task) − θ_k(start of task),
 * with damping ξ keeping Ω bounded where a parameter barely moved, and the next task trains with the
 * surrogate loss c·Σ_k Ω_k·(θ_k − θ*_k)², θ* the weights at the end of this task.
 */
export interface SiState {
  /** Ω per parameter tensor, summed over the past tasks. */
  omega: Float32Array[];
  /** θ*: the weights at the end of the last task. */
  anchor: Float32Array[];
}

/** ω over one task's training steps, kept in float64 so thousands of tiny products do not round away. */
export class PathIntegral {
  private readonly omega: Float64Array[];
  private readonly start: Float32Array[];
  private before: Float32Array[];
  private gradients: Float32Array[] | undefined;

  constructor(initial: Float32Array[]) {
    this.start = initial.map((p) => p.slice());
    this.before = this.start;
    this.omega = initial.map((p) => new Float64Array(p.length));
  }

  /** The task loss's gradient at the current weights, before the optimizer steps. */
  gradient(g: Float32Array[]): void {
    this.gradients = g;
  }

  /** The weights after the step: ω += −g·(θ_after − θ_before). */
  step(after: Float32Array[]): void {
    if (!this.gradients) throw new Error("PathIntegral.step without a gradient for it");
    after.forEach((p, i) => {
      const g = this.gradients![i];
      const b = this.before[i];
      const w = this.omega[i];
      for (let k = 0; k < p.length; k++) w[k] -= g[k] * (p[k] - b[k]);
    });
    this.before = after.map((p) => p.slice());
    this.gradients = undefined;
  }

  /** ω as accumulated so far. */
  get pathIntegral(): Float64Array[] {
    return this.omega;
  }

  /** Ω_new = Ω_previous + ω / (Δ² + ξ), anchored at the final weights. */
  consolidate(final: Float32Array[], damping: number, previous?: SiState): SiState {
    const omega = final.map((p, i) => {
      const out = new Float32Array(p.length);
      for (let k = 0; k < p.length; k++) {
        const delta = p[k] - this.start[i][k];
        out[k] = (previous?.omega[i][k] ?? 0) + this.omega[i][k] / (delta * delta + damping);
      }
      return out;
    });
    return { omega, anchor: final.map((p) => p.slice()) };
  }
}
