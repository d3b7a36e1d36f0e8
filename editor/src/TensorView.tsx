/**
 * Payload views for taps and traces: tensors are summarised (shape, dtype,
 * min/max/mean) and image-like ones drawn small; long arrays are elided.
 */
import { useEffect, useRef } from "react";

export interface TensorLike {
  path: string;
  dtype: string;
  shape: number[];
  data: ArrayLike<number>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && typeof v[0] === "number";

/** Tensors (`{dtype, shape, data}`) and long number arrays in a payload, a few levels deep. */
export function findTensors(payload: unknown, path = "", depth = 0, out: TensorLike[] = []): TensorLike[] {
  if (out.length >= 4 || depth > 3) return out;
  if (isObject(payload) && typeof payload.dtype === "string" && Array.isArray(payload.shape) && Array.isArray(payload.data)) {
    out.push({ path: path || "payload", dtype: payload.dtype, shape: payload.shape as number[], data: (payload.data as unknown[]).map(Number) });
  } else if (isNumberArray(payload) && payload.length >= 8) {
    out.push({ path: path || "payload", dtype: "number", shape: [payload.length], data: payload });
  } else if (isObject(payload)) {
    for (const [k, v] of Object.entries(payload)) findTensors(v, path ? `${path}.${k}` : k, depth + 1, out);
  }
  return out;
}

export function summarise(t: TensorLike): { min: number; max: number; mean: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: t.data.length ? sum / t.data.length : NaN };
}

/**
 * Height and width when the tensor looks like an image: trailing [h, w] (or
 * [h, w, 1|3] channels-last), or a flat square like 784 = 28×28.
 */
export function imageShape(t: TensorLike): [number, number] | undefined {
  const dims = t.shape.filter((d) => d > 1);
  if (dims.length >= 3 && (dims[dims.length - 1] === 1 || dims[dims.length - 1] === 3)) return [dims[dims.length - 3], dims[dims.length - 2]];
  if (dims.length >= 2 && dims[dims.length - 1] >= 8 && dims[dims.length - 2] >= 8) return [dims[dims.length - 2], dims[dims.length - 1]];
  const side = Math.sqrt(t.data.length);
  if (dims.length === 1 && Number.isInteger(side) && side >= 8 && side <= 128) return [side, side];
  return undefined;
}

export function TensorImage({ tensor, size = 56 }: { tensor: TensorLike; size?: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const shape = imageShape(tensor);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || !shape) return;
    const [h, w] = shape;
    const { min, max } = summarise(tensor);
    const span = max - min || 1;
    const ctx = canvas.getContext("2d")!;
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const g = Math.round(((tensor.data[i] - min) / span) * 255);
      img.data.set([g, g, g, 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
  }, [tensor, shape?.[0], shape?.[1]]);
  if (!shape) return null;
  return <canvas ref={ref} width={shape[1]} height={shape[0]} className="tensor-image" style={{ width: size, height: size }} data-testid="tensor-image" />;
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(3));

export function TensorSummary({ tensor, image = true }: { tensor: TensorLike; image?: boolean }) {
  const s = summarise(tensor);
  return (
    <div className="tensor-summary" data-testid="tensor-summary">
      {image && <TensorImage tensor={tensor} />}
      <div>
        <div>
          <b>{tensor.path}</b> {tensor.dtype} [{tensor.shape.join(", ")}]
        </div>
        <div className="muted">
          min {fmt(s.min)} · max {fmt(s.max)} · mean {fmt(s.mean)}
        </div>
      </div>
    </div>
  );
}

/** JSON with long arrays cut short, for previews. */
export function previewJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_k, v) => (Array.isArray(v) && v.length > 12 ? [...v.slice(0, 8), `… ${v.length - 8} more`] : v),
    indent,
  ) ?? "undefined";
}
