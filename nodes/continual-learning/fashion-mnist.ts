/**
 * Loads Fashion-MNIST from Debian's `dataset-fashion-mnist` (IDX files, gzipped).
 * Pixels are scaled to [0, 1] float32, one row of 784 per image; labels are 0..9.
 * Loading the 60,000 training images takes a second or two, so it reports progress.
 */
import { createReadStream, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { createGunzip, gunzipSync } from "node:zlib";

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

/** The header of an IDX file (magic: 0, 0, type 0x08 = ubyte, number of dimensions; then big-endian int32 sizes). */
function idxHeader(bytes: Uint8Array): { dims: number[]; offset: number } | undefined {
  if (bytes.length < 4) return undefined;
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new Error("not an IDX file (bad magic)");
  if (bytes[2] !== 0x08) throw new Error(`IDX element type 0x${bytes[2].toString(16)} is not unsigned byte`);
  const offset = 4 + 4 * bytes[3];
  if (bytes.length < offset) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, offset);
  return { dims: Array.from({ length: bytes[3] }, (_, i) => view.getInt32(4 + 4 * i)), offset };
}

/** Parses a whole IDX file. */
export function parseIdx(bytes: Buffer): { dims: number[]; data: Uint8Array } {
  const header = idxHeader(bytes);
  if (!header) throw new Error("not an IDX file (truncated header)");
  const size = header.dims.reduce((a, b) => a * b, 1);
  if (bytes.length - header.offset !== size) throw new Error(`IDX file holds ${bytes.length - header.offset} values, its dimensions [${header.dims}] need ${size}`);
  return { dims: header.dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + header.offset, size) };
}

/**
 * Items `from` to `to` (exclusive) of an IDX file, read as a stream that stops there: the
 * training images are 47 MB unpacked, and a serving process that draws from a few thousand
 * should never hold them.
 */
async function readIdxRows(file: string, from: number, to: number): Promise<{ dims: number[]; data: Uint8Array }> {
  const plain = existsSync(file);
  const raw = createReadStream(plain ? file : `${file}.gz`);
  const bytes = plain ? raw : raw.pipe(createGunzip());
  let head = Buffer.alloc(0);
  let dims: number[] | undefined;
  let skip = 0;
  let data = new Uint8Array(0);
  let filled = 0;
  try {
    for await (const chunk of bytes as AsyncIterable<Buffer>) {
      let rest = chunk;
      if (!dims) {
        head = Buffer.concat([head, chunk]);
        const header = idxHeader(head);
        if (!header) continue;
        const rowSize = header.dims.slice(1).reduce((a, b) => a * b, 1);
        const first = Math.min(from, header.dims[0]);
        dims = [Math.min(to, header.dims[0]) - first, ...header.dims.slice(1)];
        skip = first * rowSize;
        data = new Uint8Array(Math.max(0, dims[0]) * rowSize);
        rest = head.subarray(header.offset);
      }
      const skipped = Math.min(skip, rest.length);
      skip -= skipped;
      rest = rest.subarray(skipped);
      const take = Math.min(rest.length, data.length - filled);
      data.set(rest.subarray(0, take), filled);
      filled += take;
      if (skip === 0 && filled === data.length) break;
    }
  } finally {
    raw.destroy();
    bytes.destroy();
  }
  if (!dims || filled < data.length) throw new Error(`${file}: shorter than its IDX header says`);
  return { dims, data };
}

/** Images as they are stored: one byte per pixel (a quarter of float32's memory). */
export interface ImageSet {
  pixels: Uint8Array;
  y: Uint8Array;
  count: number;
  features: number;
}

/** Images `from` to `to` (exclusive) of a split, unscaled, reading no more of the files than that. */
export async function loadFashionMnistImages(split: "train" | "test", range: { from?: number; to?: number } = {}): Promise<ImageSet> {
  const dir = fashionMnistDir();
  const prefix = split === "train" ? "train" : "t10k";
  const [from, to] = [range.from ?? 0, range.to ?? Infinity];
  const images = await readIdxRows(path.join(dir, `${prefix}-images-idx3-ubyte`), from, to);
  const labels = await readIdxRows(path.join(dir, `${prefix}-labels-idx1-ubyte`), from, to);
  if (labels.dims[0] !== images.dims[0]) throw new Error(`${images.dims[0]} images but ${labels.dims[0]} labels`);
  return { pixels: images.data, y: labels.data, count: images.dims[0], features: images.dims.slice(1).reduce((a, b) => a * b, 1) };
}

/** Image `index` of `images` scaled to [0, 1], with a domain shift applied (see `shiftImages`). */
export function imageRow(images: ImageSet, index: number, shift: Shift = "none"): Float32Array {
  const row = new Float32Array(images.features);
  const base = index * images.features;
  for (let j = 0; j < images.features; j++) row[j] = images.pixels[base + j] / 255;
  return shift === "none" ? row : shiftRow(row, shift);
}

/** Images `indices` of `images` as a labelled set, scaled to [0, 1]. */
export function labelledImages(images: ImageSet, indices: readonly number[]): LabelledSet {
  const x = new Float32Array(indices.length * images.features);
  indices.forEach((i, k) => x.set(imageRow(images, i), k * images.features));
  return { x, y: Int32Array.from(indices, (i) => images.y[i]), count: indices.length, features: images.features };
}

const cache = new Map<string, LabelledSet>();

/**
 * Loads a split, scaled to [0, 1] float32, cached per process. `limit` keeps only the first rows.
 * The whole training split is 188 MB as float32: a serving process uses `loadFashionMnistImages`.
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
export function indicesOfClasses(set: { y: ArrayLike<number>; count: number }, classes: readonly number[]): number[] {
  const wanted = new Set(classes);
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) if (wanted.has(set.y[i])) out.push(i);
  return out;
}

export type Shift = "none" | "rotate90" | "invert";

/** One image (a square row of pixels in [0, 1]) turned by 90° or inverted (1 − pixel), as a new row. */
function shiftRow(row: Float32Array, shift: Exclude<Shift, "none">): Float32Array {
  const out = new Float32Array(row.length);
  const side = Math.round(Math.sqrt(row.length));
  for (let r = 0; r < side; r++)
    for (let c = 0; c < side; c++) {
      const v = row[r * side + c];
      if (shift === "invert") out[r * side + c] = 1 - v;
      else out[c * side + (side - 1 - r)] = v;
    }
  return out;
}

/** Domain shifts for the demo: images turned by 90° or inverted (1 − pixel). */
export function shiftImages(set: LabelledSet, shift: Exclude<Shift, "none">): LabelledSet {
  const x = new Float32Array(set.x.length);
  for (let n = 0; n < set.count; n++) x.set(shiftRow(set.x.subarray(n * set.features, (n + 1) * set.features), shift), n * set.features);
  return { ...set, x };
}
