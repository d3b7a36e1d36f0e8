/**
 * The Triton backend: models run in an existing Triton Inference Server, driven over
 * its HTTP v2 API in explicit model-control mode (`--model-control-mode=explicit`):
 *
 * - load:   `POST /v2/repository/models/{m}/load` with `parameters.config` (the
 *           ModelConfig as a JSON string) and `parameters["file:1/model.onnx"]`
 *           (the artifact, base64), so Triton needs no shared model folder;
 * - infer:  `POST /v2/models/{m}/infer` with the binary tensor extension both ways;
 * - unload: `POST /v2/repository/models/{m}/unload`.
 *
 * Each registry version is its own Triton model, `<name>-v<version>`: loading files
 * replaces a Triton model's whole directory, so two versions under one Triton name
 * could not be resident together (which a hot swap needs).
 */
import type { Tensor } from "../sdk/ports";
import type { Backend, LoadedModel, LoadRequest } from "./backend";
import { tensorBytes, tensorFromBinary, tensorFromJson, V2_DATATYPE, type TensorSpec, type V2Tensor } from "./tensors";

/** Triton ModelConfig data types (model_config.proto). */
const TRITON_TYPE: Record<Tensor["dtype"], string> = {
  bool: "TYPE_BOOL", uint8: "TYPE_UINT8", uint16: "TYPE_UINT16", uint32: "TYPE_UINT32", int8: "TYPE_INT8", int16: "TYPE_INT16", int32: "TYPE_INT32",
  int64: "TYPE_INT64", float32: "TYPE_FP32", float64: "TYPE_FP64", string: "TYPE_STRING",
};

export function tritonModelName(name: string, version: number): string {
  return `${name}-v${version}`;
}

/** The ModelConfig for an ONNX file: no Triton-side batching (`max_batch_size: 0`), so `dims` are the full shapes with -1 where free. */
export function tritonConfig(tritonName: string, inputs: TensorSpec[], outputs: TensorSpec[]): Record<string, unknown> {
  const tensor = (s: TensorSpec) => ({ name: s.name, data_type: TRITON_TYPE[s.dtype], dims: s.shape });
  return { name: tritonName, backend: "onnxruntime", max_batch_size: 0, input: inputs.map(tensor), output: outputs.map(tensor) };
}

export interface TritonOptions {
  /** Base URL of Triton's HTTP endpoint, e.g. http://127.0.0.1:8000. */
  url: string;
  /** Per call; loads of big models may need more. Default 60 s. */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer`: an `evoflow agent --token` standing in for Triton, or a Triton behind an authenticating proxy. */
  token?: string;
}

export class TritonError extends Error {
  override name = "TritonError";
}

export class TritonBackend implements Backend {
  readonly kind = "triton";
  readonly device: string;
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly auth: Record<string, string>;

  constructor(options: TritonOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.device = this.url;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.auth = options.token ? { authorization: `Bearer ${options.token}` } : {};
  }

  private async call(path: string, init: { body: string | Buffer<ArrayBuffer>; headers?: Record<string, string> }): Promise<Response> {
    const res = await fetch(`${this.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.auth, ...init.headers },
      body: init.body,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new TritonError(`Triton ${path}: HTTP ${res.status}: ${message}`);
    }
    return res;
  }

  /** The repository index (`POST /v2/repository/index`). */
  async index(readyOnly = false): Promise<{ name: string; version?: string; state: string; reason: string }[]> {
    const res = await this.call("/v2/repository/index", { body: JSON.stringify(readyOnly ? { ready: true } : {}) });
    return (await res.json()) as { name: string; version?: string; state: string; reason: string }[];
  }

  async load(request: LoadRequest): Promise<LoadedModel> {
    const name = tritonModelName(request.name, request.version);
    const { readFile } = await import("node:fs/promises");
    const bytes = await readFile(request.artifactPath);
    await this.call(`/v2/repository/models/${encodeURIComponent(name)}/load`, {
      body: JSON.stringify({
        parameters: { config: JSON.stringify(tritonConfig(name, request.inputs, request.outputs)), "file:1/model.onnx": bytes.toString("base64") },
      }),
    });
    const defaultOutputs = request.outputs.map((o) => o.name);
    return {
      run: (inputs, outputs) => this.infer(name, inputs, outputs ?? defaultOutputs),
      unload: async () => {
        await this.call(`/v2/repository/models/${encodeURIComponent(name)}/unload`, { body: JSON.stringify({ parameters: { unload_dependents: false } }) });
      },
    };
  }

  private async infer(name: string, inputs: Record<string, Tensor>, outputs: string[]): Promise<Record<string, Tensor>> {
    const parts: Uint8Array[] = [];
    const header = {
      inputs: Object.entries(inputs).map(([inputName, t]) => {
        const bytes = tensorBytes(t);
        parts.push(bytes);
        return { name: inputName, shape: t.shape, datatype: V2_DATATYPE[t.dtype], parameters: { binary_data_size: bytes.length } };
      }),
      outputs: outputs.map((o) => ({ name: o, parameters: { binary_data: true } })),
    };
    const head = Buffer.from(JSON.stringify(header));
    const res = await this.call(`/v2/models/${encodeURIComponent(name)}/infer`, {
      body: Buffer.concat([head, ...parts]),
      headers: { "content-type": "application/octet-stream", "inference-header-content-length": String(head.length) },
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const headerLength = Number(res.headers.get("inference-header-content-length") ?? body.length);
    const reply = JSON.parse(new TextDecoder().decode(body.subarray(0, headerLength))) as { outputs: V2Tensor[] };
    const result: Record<string, Tensor> = {};
    let offset = headerLength;
    for (const o of reply.outputs) {
      const size = o.parameters?.binary_data_size as number | undefined;
      if (size !== undefined) {
        result[o.name] = tensorFromBinary(o, body.subarray(offset, offset + size), `Triton output "${o.name}"`);
        offset += size;
      } else result[o.name] = tensorFromJson(o, `Triton output "${o.name}"`);
    }
    return result;
  }

  async close(): Promise<void> {}
}
