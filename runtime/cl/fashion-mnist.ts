/**
 * Loads Fashion-MNIST from Debian's `dataset-fashion-mnist` (IDX files, gzipped).
 * Pixels are scaled to [0, 1] float32, one row of 784 per image; labels are 0..9.
 * Loading the 60,000 training images takes a second or two, so it reports progress.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";

export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
export const IMAGE_SIZE = 28 * 28;

/** Where Debian installs it (`dpkg -L dataset-fashion-mnist`); `FASHION_MNIST_DIR` overrides. */
const SEARCH_DIRS = ["/usr/share/datasets/fashion-mnist", "/usr/share/dataset-fashion-mnist"];

export interface LabelledSet {
  /** [count, features] row-major. */
  x: Float32Array;
  y: Int32Array;
  count: number;
  features: number;
}

export type Progress = (done: number, total: number, stage: string) => void;

export function fashionMnistDir(): string {
  const candidates = process.env.FASHION_MNIST_DIR ? [process.env.FASHION_MNIST_DIR] : SEARCH_DIRS;
  const found = candidates.find((d) => existsSync(path.join(d, "t10k-labels-idx1-ubyte.gz")) || existsSync(path.join(d, "t10k-labels-idx1-ubyte")));
  if (!found) throw new Error(`Fashion-MNIST not found in ${candidates.join(", ")}: install Debian's dataset-fashion-mnist or set FASHION_MNIST_DIR`);
  return found;
}

function readMaybeGzipped(file: string): Buffer {
  if (existsSync(file)) return readFileSync(file);
  if (existsSync(`${file}.gz`)) return gunzipSync(readFileSync(`${file}.gz`));
  throw new Error(`missing ${file}(.gz)`);
}

/** Parses an IDX file (magic: 0, 0, type 0x08 = ubyte, number of dimensions; then big-endian int32 sizes). */
export function parseIdx(bytes: Buffer): { dims: number[]; data: Uint8Array } {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error("not an IDX file (bad magic)");
  if (bytes[2] !== 0x08) throw new Error(`IDX element type 0x${bytes[2].toString(16)} is not unsigned byte`);
  const rank = bytes[3];
  const dims = Array.from({ length: rank }, (_, i) => bytes.readInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - offset !== size) throw new Error(`IDX file holds ${bytes.length - offset} values, its dimensions [${dims}] need ${size}`);
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, size) };
}

const cache = new Map<string, LabelledSet>();

/** The training (60,000) or test (10,000) split. Cached per process. */
/**
 * Loads a split, scaled to [0, 1]. `limit` keeps only the first rows: the whole training split is
 * 188 MB as float32, more than a serving process that streams a few thousand images should hold.
 */
export function loadFashionMnist(split: "train" | "test", onProgress?: Progress, limit?: number): LabelledSet {
  const key = limit === undefined ? split : `${split}:${limit}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const dir = fashionMnistDir();
  const prefix = split === "train" ? "train" : "t10k";
  onProgress?.(0, 1, `reading ${prefix} images`);
  const images = parseIdx(readMaybeGzipped(path.join(dir, `${prefix}-images-idx3-ubyte`)));
  const labels = parseIdx(readMaybeGzipped(path.join(dir, `${prefix}-labels-idx1-ubyte`)));
  if (labels.dims[0] !== images.dims[0]) throw new Error(`${images.dims[0]} images but ${labels.dims[0]} labels`);
  const count = Math.min(images.dims[0], limit ?? Infinity);
  const features = images.dims.slice(1).reduce((a, b) => a * b, 1);
  const x = new Float32Array(count * features);
  const step = Math.max(1, Math.floor(count / 20));
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < features; j++) x[i * features + j] = images.data[i * features + j] / 255;
    if (i % step === 0) onProgress?.(i, count, `scaling ${prefix} images`);
  }
  onProgress?.(count, count, "done");
  const set = { x, y: Int32Array.from(labels.data.subarray(0, count)), count, features };
  cache.set(key, set);
  return set;
}

/** Rows of `set` at `indices` (copied). */
export function subset(set: LabelledSet, indices: ArrayLike<number>): LabelledSet {
  const x = new Float32Array(indices.length * set.features);
  const y = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    x.set(set.x.subarray(i * set.features, (i + 1) * set.features), k * set.features);
    y[k] = set.y[i];
  }
  return { x, y, count: indices.length, features: set.features };
}

/** Indices of the rows whose label is in `classes`, in order. */
export function indicesOfClasses(set: LabelledSet, classes: readonly number[]): number[] {
  const wanted = new Set(classes);
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) if (wanted.has(set.y[i])) out.push(i);
  return out;
}

/** Domain shifts for the demo: images turned by 90° or inverted (1 − pixel). */
export function shiftImages(set: LabelledSet, shift: "rotate90" | "invert"): LabelledSet {
  const x = new Float32Array(set.x.length);
  const side = Math.round(Math.sqrt(set.features));
  for (let n = 0; n < set.count; n++) {
    const base = n * set.features;
    for (let r = 0; r < side; r++)
      for (let c = 0; c < side; c++) {
        const v = set.x[base + r * side + c];
        if (shift === "invert") x[base + r * side + c] = 1 - v;
        else x[base + c * side + (side - 1 - r)] = v;
      }
  }
  return { ...set, x };
}
