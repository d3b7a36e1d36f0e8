/**
 * The model an explainer questions: one registry version on the `models` service (the
 * in-process GPU agent, or agents over NATS), as the model.onnx node calls it. Perturbed rows
 * are stacked along dimension 0 when the model takes a batch, else sent one by one.
 */
import type { ModelService, Tensor } from "../../sdk";

/** Rows stacked into one model call. */
const ROWS_PER_INFER = 256;

export interface ScorerOptions {
  input?: string;
  output?: string;
  /** The output index explained; "predicted": the highest-scoring one for the explained input. */
  target: number | "predicted";
}

export interface ModelScorer {
  model: { name: string; version: number };
  input: string;
  output: string;
  target: number;
  /** The explained input's features, as float64. */
  x: Float64Array;
  /** The shape of one row as the model takes it. */
  shape: number[];
  score(rows: Float64Array[]): Promise<Float64Array>;
  /** Rows scored so far. */
  readonly evaluations: number;
}

/** The tensor's values as float64 (data may be a plain array when it came as JSON). */
export function tensorValues(t: Tensor, what: string): Float64Array {
  if (t.dtype !== "float32" && t.dtype !== "float64") throw new Error(`${what} is ${t.dtype}: explainers perturb float32 or float64 tensors`);
  return Float64Array.from(t.data as ArrayLike<number>);
}

export async function modelScorer(models: ModelService, model: { name: string; version: number }, example: Tensor, options: ScorerOptions): Promise<ModelScorer> {
  const d = await models.describe(model.name, model.version);
  const input = options.input ?? (d.inputs.length === 1 ? d.inputs[0].name : undefined);
  if (!input) throw new Error(`model ${model.name}@${model.version} has inputs ${d.inputs.map((i) => i.name).join(", ")}: set \`input\``);
  const inputSpec = d.inputs.find((i) => i.name === input);
  if (!inputSpec) throw new Error(`model ${model.name}@${model.version} has no input "${input}"`);
  const output = options.output ?? d.outputs[0].name;
  if (!d.outputs.some((o) => o.name === output)) throw new Error(`model ${model.name}@${model.version} has no output "${output}"`);
  const x = tensorValues(example, "the explained input");
  const shape = example.shape;
  if (shape[0] > 1 && inputSpec.shape[0] === -1) throw new Error(`explainers explain one row at a time: the input is a batch of ${shape[0]} (shape [${shape}])`);
  const batched = shape[0] === 1 && inputSpec.shape[0] === -1;
  const Data = example.dtype === "float64" ? Float64Array : Float32Array;
  let evaluations = 0;

  /** The explained output's whole row for each input row. */
  const outputRows = async (rows: Float64Array[]): Promise<Float64Array[]> => {
    const out: Float64Array[] = [];
    const perCall = batched ? ROWS_PER_INFER : 1;
    for (let first = 0; first < rows.length; first += perCall) {
      const group = rows.slice(first, first + perCall);
      const data = new Data(group.length * x.length);
      group.forEach((row, i) => data.set(row, i * x.length));
      const tensor: Tensor = { dtype: example.dtype, shape: batched ? [group.length, ...shape.slice(1)] : shape, data };
      const answer = (await models.infer(model.name, model.version, { [input]: tensor }, [output]))[output];
      if (!answer) throw new Error(`model ${model.name}@${model.version} gave no output "${output}"`);
      const values = Float64Array.from(answer.data as ArrayLike<number>);
      const width = values.length / group.length;
      for (let i = 0; i < group.length; i++) out.push(values.subarray(i * width, (i + 1) * width));
      evaluations += group.length;
    }
    return out;
  };

  const [own] = await outputRows([x]);
  let target: number;
  if (options.target === "predicted") target = own.reduce((best, v, i) => (v > own[best] ? i : best), 0);
  else if (options.target < own.length) target = options.target;
  else throw new Error(`target ${options.target} is out of range: output "${output}" has ${own.length} values a row`);

  return {
    model,
    input,
    output,
    target,
    x,
    shape,
    score: async (rows) => Float64Array.from(await outputRows(rows), (row) => row[target]),
    get evaluations() {
      return evaluations;
    },
  };
}
