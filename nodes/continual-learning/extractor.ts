/**
 * A trainable head on a frozen ONNX feature extractor. The extractor (any ONNX graph) runs in
 * onnxruntime-node to turn inputs into features; a dense head (dense.ts) trains on them in
 * tfjs; the candidate is ONE ONNX model: the extractor's graph, pruned to what the feature
 * tensor needs and with its weights untouched, then Flatten, then the head. The head's nodes
 * and weights carry a `head/` prefix and the model's metadata names the feature tensor, so the
 * next stateful training reads the head back out of the champion and warm-starts from it.
 */
import { ort, type Ort } from "../../onnx/ort";
import { attr } from "../../onnx/build";
import { onnx, type OnnxProto } from "../../onnx/proto";
import { ONNX_DTYPE_CODES } from "../../onnx/dtypes";
import { decodeModel, readSignature } from "../../onnx/signature";
import { fromOnnx, toOnnx, type DenseModel } from "./dense";
import type { LabelledSet } from "./fashion-mnist";

type Graph = OnnxProto.onnx.IGraphProto;
type Node = OnnxProto.onnx.INodeProto;

const HEAD = "head/";
/** The flattened feature tensor the head reads, inside a merged model. */
const HEAD_INPUT = `${HEAD}features`;
/** Metadata key of a merged model: the extractor tensor its head reads. */
export const HEAD_FEATURES_KEY = "evoflow.head.features";
const FLOAT = ONNX_DTYPE_CODES.float32;
const BATCH_ROWS = 512;

/** The extractor's nodes (in order) needed to compute `tensor`, and every value name they touch. */
function prune(graph: Graph, tensor: string): { nodes: Node[]; names: Set<string> } {
  const all = graph.node ?? [];
  if (!all.some((n) => n.output?.includes(tensor))) {
    const known = all.flatMap((n) => n.output ?? []).filter(Boolean);
    throw new Error(`the extractor computes no tensor "${tensor}" (its values: ${known.slice(-12).join(", ")}${known.length > 12 ? ", …" : ""})`);
  }
  const names = new Set([tensor]);
  const kept: Node[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const node = all[i];
    if (!node.output?.some((o) => names.has(o))) continue;
    // A control-flow body may read outer values without listing them as inputs: pruning by inputs would miss them.
    if (node.attribute?.some((a) => a.g || a.graphs?.length)) throw new Error(`extractor node ${node.name ?? node.opType} (${node.opType}) has a subgraph: control flow is not supported in a feature extractor`);
    kept.unshift(node);
    for (const name of [...(node.input ?? []), ...(node.output ?? [])]) if (name) names.add(name);
  }
  return { nodes: kept, names };
}

function usedInitializers(graph: Graph, names: Set<string>): OnnxProto.onnx.ITensorProto[] {
  return (graph.initializer ?? []).filter((t) => names.has(t.name!));
}

/** The graph's inputs less the pruned weights that models before IR 4 also list as inputs (left, they would become required inputs). */
function keptInputs(graph: Graph, names: Set<string>): OnnxProto.onnx.IValueInfoProto[] {
  const weights = new Set((graph.initializer ?? []).map((t) => t.name));
  return (graph.input ?? []).filter((v) => !weights.has(v.name) || names.has(v.name!));
}

function defaultOpset(model: OnnxProto.onnx.IModelProto): number {
  return Number(model.opsetImport?.find((o) => !o.domain)?.version ?? 0);
}

/** The head's own ONNX graph, every name but its input and output moved under `head/`. */
function headGraph(head: DenseModel): Graph {
  const graph = decodeModel(toOnnx({ ...head, inputName: HEAD_INPUT })).graph!;
  const keep = new Set([HEAD_INPUT, head.outputName]);
  const rename = (name: string) => (keep.has(name) ? name : HEAD + name);
  for (const t of graph.initializer ?? []) t.name = rename(t.name!);
  for (const n of graph.node ?? []) {
    n.name = HEAD + n.name;
    n.input = n.input!.map(rename);
    n.output = n.output!.map(rename);
  }
  return graph;
}

export class FrozenExtractor {
  private constructor(
    private readonly model: OnnxProto.onnx.ModelProto,
    private readonly pruned: { nodes: Node[]; names: Set<string> },
    readonly output: string,
    private readonly session: Ort.InferenceSession,
    private readonly input: { name: string; shape: number[] },
  ) {}

  /** Loads the extractor and a session that computes its tensor `output`. */
  static async create(bytes: Uint8Array, output: string): Promise<FrozenExtractor> {
    const model = decodeModel(bytes);
    if (defaultOpset(model) < 11) throw new Error(`the extractor uses opset ${defaultOpset(model)}; the head needs opset 11 or later`);
    const inputs = readSignature(bytes).inputs;
    if (inputs.length !== 1 || inputs[0].dtype !== "float32" || !inputs[0].shape) throw new Error(`a feature extractor takes one float32 tensor of known rank; this one takes ${inputs.map((i) => `${i.name} (${i.dtype})`).join(", ")}`);
    const pruned = prune(model.graph!, output);
    // A copy that answers with the feature tensor: ONNX Runtime only returns graph outputs.
    const graph = model.graph!;
    const known = [...(graph.output ?? []), ...(graph.valueInfo ?? [])].find((v) => v.name === output);
    const featureModel = onnx.ModelProto.create({ ...model, graph: { ...graph, node: pruned.nodes, input: keptInputs(graph, pruned.names), initializer: usedInitializers(graph, pruned.names), output: [known ?? { name: output, type: { tensorType: { elemType: FLOAT } } }] } });
    const session = await ort.InferenceSession.create(onnx.ModelProto.encode(featureModel).finish());
    return new FrozenExtractor(model, pruned, output, session, { name: inputs[0].name, shape: inputs[0].shape });
  }

  /** The extractor's features of every example, flattened to one row each (labels kept). */
  async features(set: LabelledSet): Promise<LabelledSet> {
    const perExample = this.input.shape.slice(1);
    if (perExample.some((d) => d < 0) || perExample.reduce((a, b) => a * b, 1) !== set.features) {
      throw new Error(`the extractor's input ${this.input.name} is [${this.input.shape.join(", ")}] (−1: any size); the data has ${set.features} values per example`);
    }
    const parts: Float32Array[] = [];
    let width = 0;
    for (let from = 0; from < set.count; from += BATCH_ROWS) {
      const rows = Math.min(BATCH_ROWS, set.count - from);
      const x = set.x.subarray(from * set.features, (from + rows) * set.features);
      const out = (await this.session.run({ [this.input.name]: new ort.Tensor("float32", x, [rows, ...perExample]) }))[this.output];
      if (out.type !== "float32") throw new Error(`the feature tensor ${this.output} is ${out.type}, not float32`);
      width = out.size / rows;
      parts.push(out.data as Float32Array);
    }
    const x = new Float32Array(set.count * width);
    parts.reduce((at, part) => (x.set(part, at), at + part.length), 0);
    return { x, y: set.y, count: set.count, features: width };
  }

  /** ONE model: the pruned extractor graph (weights untouched), Flatten, then the head; the extractor's input, the head's output. */
  merge(head: DenseModel, metadata: Record<string, string> = {}): Uint8Array {
    const graph = this.model.graph!;
    if (this.pruned.names.has(head.outputName) || graph.input?.some((v) => v.name === head.outputName)) {
      throw new Error(`the head's output name "${head.outputName}" is already a value of the extractor's graph`);
    }
    const tail = headGraph(head);
    const flatten: Node = { name: `${HEAD}flatten`, opType: "Flatten", domain: "", input: [this.output], output: [HEAD_INPUT], attribute: [attr.int("axis", 1)] };
    const merged = onnx.ModelProto.create({
      ...this.model,
      producerName: "evoflow-trainer",
      metadataProps: [...(this.model.metadataProps ?? []).filter((p) => !(p.key! in metadata) && p.key !== HEAD_FEATURES_KEY), ...Object.entries(metadata).map(([key, value]) => ({ key, value })), { key: HEAD_FEATURES_KEY, value: this.output }],
      graph: {
        ...graph,
        input: keptInputs(graph, this.pruned.names),
        node: [...this.pruned.nodes, flatten, ...tail.node!],
        initializer: [...usedInitializers(graph, this.pruned.names), ...tail.initializer!],
        valueInfo: (graph.valueInfo ?? []).filter((v) => this.pruned.names.has(v.name!)),
        output: tail.output,
      },
    });
    return onnx.ModelProto.encode(merged).finish();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The dense head of a merged model (as `FrozenExtractor.merge` wrote it), for a warm start; `features` must be the tensor it was trained on. */
export function headOf(bytes: Uint8Array, features: string): DenseModel {
  const model = decodeModel(bytes);
  const reads = model.metadataProps?.find((p) => p.key === HEAD_FEATURES_KEY)?.value;
  if (!reads) throw new Error(`the champion is not a head on a feature extractor (no ${HEAD_FEATURES_KEY} metadata), so a head cannot take its weights or signature: start the model with a head trained before any champion exists`);
  if (reads !== features) throw new Error(`the champion's head reads the extractor tensor "${reads}", the config says "${features}"`);
  const graph = model.graph!;
  // The head is every node after the Flatten that feeds it (the extractor's own names may use any prefix).
  const flatten = graph.node!.findLastIndex((n) => n.opType === "Flatten" && n.output?.[0] === HEAD_INPUT);
  const nodes = graph.node!.slice(flatten + 1);
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const initializers = graph.initializer!.filter((t) => read.has(t.name!));
  const firstKernel = initializers.find((t) => t.name === nodes[0]?.input?.[1]);
  if (!firstKernel) throw new Error("the champion's head has no dense layer");
  const batch = graph.input!.find((v) => !graph.initializer?.some((t) => t.name === v.name))?.type?.tensorType?.shape?.dim?.[0] ?? { dimParam: "batch" };
  const headModel = onnx.ModelProto.create({
    ...model,
    graph: {
      name: "head",
      node: nodes,
      initializer: initializers,
      input: [{ name: HEAD_INPUT, type: { tensorType: { elemType: FLOAT, shape: { dim: [batch, { dimValue: Number(firstKernel.dims![0]) }] } } } }],
      output: graph.output,
    },
  });
  return fromOnnx(onnx.ModelProto.encode(headModel).finish());
}
