/**
 * Labelled examples as they travel on `labelled` ports ({x, y}: x a float tensor or a
 * number array, y a class index), gathered into training / holdout sets.
 */
import { createHash } from "node:crypto";
import { isTensor } from "../../sdk/ports";
import type { LabelledSet } from "./fashion-mnist";

export function exampleOf(payload: unknown): { x: Float32Array; y: number } {
  const { x, y } = payload as { x: unknown; y: unknown };
  const label = typeof y === "string" ? Number(y) : y;
  if (typeof label !== "number" || !Number.isInteger(label) || label < 0) throw new Error(`label must be a class index (a non-negative integer), got ${JSON.stringify(y)}`);
  if (isTensor(x)) {
    if (typeof x.data[0] === "string" || x.data instanceof BigInt64Array) throw new Error(`x must be a numeric tensor, got ${x.dtype}`);
    return { x: Float32Array.from(x.data as ArrayLike<number>), y: label };
  }
  if (Array.isArray(x) && x.every((v) => typeof v === "number")) return { x: Float32Array.from(x), y: label };
  throw new Error("x must be a float tensor or an array of numbers");
}

/**
 * Whether an example belongs to the holdout: decided by a seeded hash of the example itself
 * (its features), so the trainer (which skips it) and the validator (which keeps it) agree
 * without talking, the same stream gives the same split on every run, and an example seen
 * twice always falls on the same side.
 */
export function isHoldout(x: Float32Array, share: number, seed: number): boolean {
  if (share <= 0) return false;
  const h = createHash("sha1").update(Uint32Array.of(seed >>> 0)).update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest().readUInt32BE(0);
  return h / 2 ** 32 < share;
}

export function toSet(examples: { x: Float32Array; y: number }[]): LabelledSet {
  const features = examples[0]?.x.length ?? 0;
  const x = new Float32Array(examples.length * features);
  examples.forEach((e, i) => {
    if (e.x.length !== features) throw new Error(`example ${i} has ${e.x.length} features, the first has ${features}`);
    x.set(e.x, i * features);
  });
  return { x, y: Int32Array.from(examples, (e) => e.y), count: examples.length, features };
}

/** Accumulates examples of one width, remembering which messages they came from. */
export class ExampleBuffer {
  private rows: Float32Array[] = [];
  private labels: number[] = [];
  readonly messageIds: string[] = [];
  features?: number;

  constructor(private readonly capacity: number) {}

  add(x: Float32Array, y: number, messageId: string): void {
    if (this.features !== undefined && x.length !== this.features) throw new Error(`example has ${x.length} features, earlier ones had ${this.features}`);
    this.features = x.length;
    this.rows.push(x);
    this.labels.push(y);
    this.messageIds.push(messageId);
    // Keep the newest: the experience is what arrived most recently.
    if (this.rows.length > this.capacity) (this.rows.shift(), this.labels.shift(), this.messageIds.shift());
  }

  get count(): number {
    return this.rows.length;
  }

  toSet(): LabelledSet {
    const features = this.features ?? 0;
    const x = new Float32Array(this.rows.length * features);
    this.rows.forEach((r, i) => x.set(r, i * features));
    return { x, y: Int32Array.from(this.labels), count: this.rows.length, features };
  }

  clear(): void {
    this.rows = [];
    this.labels = [];
    this.messageIds.length = 0;
  }
}
