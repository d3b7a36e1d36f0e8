/**
 * Occlusion (Zeiler & Fergus 2014): slide a patch over the image, cover it with a fill
 * value, and record how much the explained score drops. A pixel's attribution is the mean
 * drop of the patches that covered it, as Captum's Occlusion averages overlapping windows.
 * Images are channels first (C×H×W, or H×W), as ONNX image models take them: a patch covers
 * every channel.
 */
import { ROWS_PER_CALL, type ExplainProgress, type RowScorer } from "./kernel-shap";

export interface ImageGeometry {
  channels: number;
  height: number;
  width: number;
}

export interface OcclusionOptions {
  patch: number;
  stride: number;
  /** What covers a patch: a value, or the image's own mean. */
  fill: number | "mean";
}

export interface OcclusionResult {
  /** Height × width, row-major: the mean score drop of the patches over each pixel. */
  map: Float64Array;
  score: number;
  /** Every patch position with its drop, largest drop first. */
  patches: { y: number; x: number; drop: number }[];
}

/** Patch origins along one side: every `stride`, and the last one flush with the edge so no pixel is left out. */
function origins(side: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let at = 0; at + patch < side; at += stride) out.push(at);
  out.push(Math.max(0, side - patch));
  return [...new Set(out)];
}

/**
 * The geometry of an image input: `height`/`width` when given, else the last two dimensions of a
 * tensor of rank 3 or more past the batch (C×H×W or H×W), else a flat square (784 → 28×28).
 */
export function imageGeometry(shape: number[], size: number, given: { height?: number; width?: number } = {}): ImageGeometry {
  let height = given.height;
  let width = given.width;
  const dims = shape[0] === 1 ? shape.slice(1) : shape;
  if (height === undefined && width === undefined) {
    if (dims.length >= 2) [height, width] = dims.slice(-2);
    else if (Number.isInteger(Math.sqrt(size))) height = width = Math.sqrt(size);
  } else if (height === undefined) height = size / width!;
  else if (width === undefined) width = size / height;
  if (!height || !width || !Number.isInteger(height) || !Number.isInteger(width) || size % (height * width) !== 0)
    throw new Error(`cannot see an image in a tensor of shape [${shape}]: set height and width`);
  return { channels: size / (height * width), height, width };
}

export async function occlusion(x: Float64Array, image: ImageGeometry, score: RowScorer, options: OcclusionOptions, progress?: ExplainProgress): Promise<OcclusionResult> {
  const { channels, height, width } = image;
  const patch = Math.min(options.patch, height, width);
  const fill = options.fill === "mean" ? x.reduce((s, v) => s + v, 0) / x.length : options.fill;
  const positions = origins(height, patch, options.stride).flatMap((y) => origins(width, patch, options.stride).map((px) => ({ y, x: px })));
  const rows = [x];
  for (const at of positions) {
    const row = Float64Array.from(x);
    for (let c = 0; c < channels; c++)
      for (let dy = 0; dy < patch; dy++) row.fill(fill, c * height * width + (at.y + dy) * width + at.x, c * height * width + (at.y + dy) * width + at.x + patch);
    rows.push(row);
  }
  const scores = new Float64Array(rows.length);
  for (let first = 0; first < rows.length; first += ROWS_PER_CALL) {
    scores.set(await score(rows.slice(first, first + ROWS_PER_CALL)), first);
    progress?.(Math.min(rows.length, first + ROWS_PER_CALL), rows.length);
  }
  const base = scores[0];
  const sum = new Float64Array(height * width);
  const covered = new Uint16Array(height * width);
  const patches = positions.map((at, i) => {
    const drop = base - scores[i + 1];
    for (let dy = 0; dy < patch; dy++)
      for (let dx = 0; dx < patch; dx++) {
        const pixel = (at.y + dy) * width + at.x + dx;
        sum[pixel] += drop;
        covered[pixel]++;
      }
    return { ...at, drop };
  });
  const map = sum.map((s, i) => s / covered[i]);
  return { map, score: base, patches: patches.sort((a, b) => b.drop - a.drop) };
}
