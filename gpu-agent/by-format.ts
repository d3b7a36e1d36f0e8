/**
 * One backend per model format behind the host's one `Backend`: ONNX models go to onnxruntime
 * (or Triton), `sklearn` and `python` models to the Python workers. The host stays one budget
 * and one LRU over all of them, so an idle sklearn worker is evicted for an ONNX session and back.
 */
import type { ModelFormat } from "../sdk/registry";
import type { Backend, Inspection, LoadedModel, LoadRequest } from "./backend";

export class ByFormat implements Backend {
  readonly kind: string;
  readonly formats: readonly ModelFormat[];
  private readonly byFormat = new Map<ModelFormat, Backend>();

  constructor(private readonly backends: readonly Backend[]) {
    for (const b of backends) for (const f of b.formats ?? ["onnx"]) if (!this.byFormat.has(f)) this.byFormat.set(f, b);
    this.kind = backends.map((b) => b.kind).join("+");
    this.formats = [...this.byFormat.keys()];
  }

  /** The ONNX backend's device (the first backend's when none loads ONNX). */
  get device(): string {
    return (this.byFormat.get("onnx") ?? this.backends[0]).device;
  }

  backendFor(format: ModelFormat): Backend {
    const b = this.byFormat.get(format);
    if (!b) {
      const why = format === "online-json" ? " (an online learner's snapshot: the model.online node serves it)" : format !== "onnx" ? " (sklearn and python models run code: they need `evoflow agent --allow-exec`, or a runtime that grants exec)" : "";
      throw new Error(`this agent loads ${this.formats.join(", ")} models, not ${format}${why}`);
    }
    return b;
  }

  prepare(artifactPath: string, bytes: Uint8Array): Promise<boolean> {
    const onnx = this.byFormat.get("onnx");
    return onnx?.prepare ? onnx.prepare(artifactPath, bytes) : Promise.resolve(false);
  }

  inspect(format: ModelFormat, artifactPath: string): Promise<Inspection> {
    const b = this.backendFor(format);
    if (!b.inspect) return Promise.reject(new Error(`the ${b.kind} backend cannot read the signature of a ${format} model: give it when registering the model`));
    return b.inspect(format, artifactPath);
  }

  load(request: LoadRequest): Promise<LoadedModel> {
    return this.backendFor(request.format).load(request);
  }

  async close(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.close()));
  }
}
