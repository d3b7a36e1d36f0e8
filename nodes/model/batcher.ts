/**
 * Dynamic batching for the model node: requests that arrive while the model is busy
 * (or within `maxDelayMs`) are stacked along dimension 0, run once, and the outputs
 * are split back by each request's row count. An idle model runs a lone request at
 * once when `maxDelayMs` is 0, so batching adds no latency when there is no load.
 * Requests are only stacked with others for the same model version whose inputs have
 * the same dtypes and trailing dimensions.
 */
import type { Tensor } from "../../sdk";
import { TYPED_ARRAY } from "../../sdk/tensor-bytes";

export type RunBatch = (version: number, inputs: Record<string, Tensor>) => Promise<Record<string, Tensor>>;

interface Pending {
  version: number;
  inputs: Record<string, Tensor>;
  rows: number;
  signature: string;
  resolve(outputs: Record<string, Tensor>): void;
  reject(err: unknown): void;
}

function rowsOf(inputs: Record<string, Tensor>): number | undefined {
  let rows: number | undefined;
  for (const t of Object.values(inputs)) {
    if (t.shape.length === 0) return undefined;
    if (rows !== undefined && t.shape[0] !== rows) return undefined;
    rows = t.shape[0];
  }
  return rows;
}

/** Inputs that may share a batch have the same version, names, dtypes and trailing shapes. */
function signatureOf(version: number, inputs: Record<string, Tensor>): string {
  return `${version}|${Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, t]) => `${n}:${t.dtype}:${t.shape.slice(1).join("x")}`).join(",")}`;
}

export function concatTensors(parts: Tensor[]): Tensor {
  if (parts.length === 1) return parts[0];
  const first = parts[0];
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const shape = [rows, ...first.shape.slice(1)];
  if (first.dtype === "string") return { dtype: first.dtype, shape, data: parts.flatMap((t) => t.data as string[]) };
  const length = parts.reduce((n, t) => n + t.data.length, 0);
  // The dtype's typed array, not the first part's constructor: a tensor from a JSON body holds a plain array.
  const data = new TYPED_ARRAY[first.dtype](length);
  let at = 0;
  for (const t of parts) {
    if (first.dtype === "int64" && Array.isArray(t.data)) (t.data as unknown as number[]).forEach((v, i) => ((data as BigInt64Array)[at + i] = BigInt(v)));
    else (data as Float32Array).set(t.data as Float32Array, at);
    at += t.data.length;
  }
  return { dtype: first.dtype, shape, data: data as Tensor["data"] };
}

function sliceRows(t: Tensor, from: number, rows: number): Tensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = t.dtype === "string" ? (t.data as string[]).slice(from * per, (from + rows) * per) : (t.data as Float32Array).slice(from * per, (from + rows) * per);
  return { dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], data: data as Tensor["data"] };
}

export class Batcher {
  private readonly queue: Pending[] = [];
  private busy = false;
  private timer?: NodeJS.Timeout;
  batches = 0;
  batchedRequests = 0;

  constructor(
    private readonly run: RunBatch,
    private readonly maxBatchSize: number,
    private readonly maxDelayMs: number,
  ) {}

  submit(version: number, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const rows = rowsOf(inputs);
    // Unbatchable requests (scalars, ragged dim 0, already a full batch) run on their own.
    if (this.maxBatchSize <= 1 || rows === undefined || rows >= this.maxBatchSize) return this.runAlone(version, inputs);
    // An idle model with nothing queued runs the request at once; whatever arrives meanwhile queues for the next batch.
    if (!this.busy && this.queue.length === 0 && this.maxDelayMs <= 0) return this.runIdle(version, inputs);
    return new Promise((resolve, reject) => {
      this.queue.push({ version, inputs, rows, signature: signatureOf(version, inputs), resolve, reject });
      this.schedule();
    });
  }

  private async runAlone(version: number, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    this.batches++;
    this.batchedRequests++;
    return this.run(version, inputs);
  }

  private async runIdle(version: number, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    this.busy = true;
    this.batches++;
    this.batchedRequests++;
    try {
      return await this.run(version, inputs);
    } finally {
      this.busy = false;
      if (this.queue.length) void this.flush();
    }
  }

  private schedule(): void {
    if (this.busy || this.queue.length === 0) return;
    const queuedRows = this.queue.reduce((n, p) => n + p.rows, 0);
    if (this.maxDelayMs <= 0 || queuedRows >= this.maxBatchSize) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.maxDelayMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    const head = this.queue[0];
    const batch: Pending[] = [];
    let rows = 0;
    for (let i = 0; i < this.queue.length; ) {
      const p = this.queue[i];
      if (p.signature === head.signature && rows + p.rows <= this.maxBatchSize) {
        batch.push(p);
        rows += p.rows;
        this.queue.splice(i, 1);
      } else i++;
    }
    this.batches++;
    this.batchedRequests += batch.length;
    try {
      const inputs: Record<string, Tensor> = {};
      for (const name of Object.keys(head.inputs)) inputs[name] = concatTensors(batch.map((p) => p.inputs[name]));
      const outputs = await this.run(head.version, inputs);
      if (batch.length === 1) batch[0].resolve(outputs);
      else {
        for (const [name, t] of Object.entries(outputs))
          if (t.shape[0] !== rows) throw new Error(`output "${name}" has ${t.shape[0]} rows for a batch of ${rows}: the model does not batch along dimension 0 (set maxBatchSize to 1)`);
        let from = 0;
        for (const p of batch) {
          const mine: Record<string, Tensor> = {};
          for (const [name, t] of Object.entries(outputs)) mine[name] = sliceRows(t, from, p.rows);
          from += p.rows;
          p.resolve(mine);
        }
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.busy = false;
      // Whatever queued meanwhile has already waited a whole run: go now.
      if (this.queue.length) void this.flush();
    }
  }

  /** Rejects whatever is still queued (the node is stopping). */
  close(reason: string): void {
    clearTimeout(this.timer);
    for (const p of this.queue.splice(0)) p.reject(new Error(reason));
  }
}
