/**
 * What `evoflow cl backtest` replays and with what: the labelled examples of a recorded stream
 * (a JSONL file in the data folder, or an edge of a pipeline's JetStream stream) and the
 * pipeline's own trainer, drift node and the control.trigger starting the trainer, their configs
 * parsed by the nodes' own schemas.
 */
import { readFile } from "node:fs/promises";
import type { CommandHost } from "../../sdk/extensions";
import { realFileInside } from "../../sdk/config-path";
import { edgeId } from "../../sdk/pipeline";
import { driftNodes } from "../drift/index";
import { streamingDetectorMakers } from "../drift/streaming-nodes";
import { twoSampleDetectorMakers } from "../drift/two-sample-nodes";
import triggerNode from "../control/trigger";
import tfjsTrainer from "../trainer/tfjs";
import type { BacktestPlan, BacktestTrainer, Sample } from "./backtest";
import { exampleOf } from "./examples";
import type { TrainConfig } from "./train";
import type { TriggerPolicyConfig } from "../control/trigger-policy";

/** A mistake in what the user asked for: printed as one line, exit code 1. */
export class BacktestInputError extends Error {}

interface PipelineNode {
  id: string;
  type: string;
  config?: Record<string, unknown>;
}
export interface PipelineFile {
  name: string;
  nodes: PipelineNode[];
  edges: { id?: string; from: string; to: string; mode?: string }[];
}

export async function readPipeline(file: string): Promise<PipelineFile> {
  const text = await readFile(file, "utf8").catch(() => {
    throw new BacktestInputError(`no pipeline file "${file}"`);
  });
  let doc: PipelineFile;
  try {
    doc = JSON.parse(text) as PipelineFile;
  } catch (err) {
    throw new BacktestInputError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (typeof doc?.name !== "string" || !Array.isArray(doc.nodes) || !Array.isArray(doc.edges)) throw new BacktestInputError(`${file}: not a pipeline (it needs name, nodes and edges)`);
  return doc;
}

function pick(pipeline: PipelineFile, kind: string, matches: (n: PipelineNode) => boolean, id?: string): { node: PipelineNode; index: number } | undefined {
  const found = pipeline.nodes.map((node, index) => ({ node, index })).filter(({ node }) => matches(node));
  if (id !== undefined) {
    const chosen = found.find(({ node }) => node.id === id);
    if (!chosen) throw new BacktestInputError(`pipeline ${pipeline.name} has no ${kind} node "${id}" (${kind} nodes: ${found.map(({ node }) => node.id).join(", ") || "none"})`);
    return chosen;
  }
  if (found.length > 1) throw new BacktestInputError(`pipeline ${pipeline.name} has ${found.length} ${kind} nodes (${found.map(({ node }) => node.id).join(", ")}): name one with --${kind}`);
  return found[0];
}

function parsedConfig<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, node: PipelineNode, index: number): T {
  const parsed = schema.safeParse(node.config ?? {});
  if (parsed.success) return parsed.data;
  throw new BacktestInputError(parsed.error.issues.map((i) => `nodes[${index}].config${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}: ${i.message}`).join("\n"));
}

/** The plan's trainer and drift detector from the pipeline; windows and schedules come from the command line. */
export function planFromPipeline(pipeline: PipelineFile, options: { trainer?: string; drift?: string }): Pick<BacktestPlan, "trainer" | "drift" | "trigger"> & { dataEdge: string } {
  const trainerNode = pick(pipeline, "trainer", (n) => n.type.startsWith("trainer."), options.trainer);
  if (!trainerNode) throw new BacktestInputError(`pipeline ${pipeline.name} has no trainer node: the backtest retrains with the pipeline's own trainer (trainer.tfjs)`);
  const { node, index } = trainerNode;
  if (node.type !== tfjsTrainer.type) throw new BacktestInputError(`nodes[${index}] (${node.id}) is a ${node.type}: the backtest replays trainer.tfjs only`);
  const cfg = parsedConfig(tfjsTrainer.config, node, index) as TrainConfig & Omit<BacktestTrainer, "node" | "config"> & { model: string; niceness: number; extractor?: unknown };
  if (cfg.extractor) throw new BacktestInputError(`nodes[${index}].config.extractor: the backtest trains whole dense models, not a head on a registry extractor`);
  const { model: _model, niceness: _niceness, extractor: _extractor, minSamples, maxSamples, holdoutShare, holdoutSeed, ...config } = cfg;
  const trainer: BacktestTrainer = { node: node.id, config, minSamples, maxSamples, holdoutShare, holdoutSeed };

  const dataEdge = pipeline.edges.find((e) => e.to === `${node.id}.data`);
  if (!dataEdge) throw new BacktestInputError(`trainer ${node.id} has no edge into ${node.id}.data: name the recorded edge with --edge`);

  const driftNode = pick(pipeline, "drift", (n) => n.type.startsWith("drift.") && n.type.slice(6) in { ...streamingDetectorMakers, ...twoSampleDetectorMakers }, options.drift);
  let drift: BacktestPlan["drift"];
  if (driftNode) {
    const name = driftNode.node.type.slice(6);
    const def = driftNodes.find((d) => d.type === driftNode.node.type)!;
    const params = parsedConfig(def.config, driftNode.node, driftNode.index) as Record<string, unknown>;
    const streaming = streamingDetectorMakers[name];
    // A streaming detector watches the replayed model's 0/1 error (as drift.ddm on the outcome stream); a two-sample one the example's features.
    drift = streaming
      ? { node: driftNode.node.id, type: driftNode.node.type, watches: "error", make: () => { const d = streaming(params); return (_x, error) => d.update(error).driftDetected; } }
      : { node: driftNode.node.id, type: driftNode.node.type, watches: "features", make: () => { const d = twoSampleDetectorMakers[name](params); return (x) => d.update(Array.from(x)).driftDetected; } };
  }
  // The trigger that starts this trainer, fed by the drift node when its drift port is wired to it.
  const triggerEdge = pipeline.edges.find((e) => e.to === `${node.id}.trigger`);
  const triggerAt = triggerEdge && pipeline.nodes.findIndex((n) => n.type === triggerNode.type && triggerEdge.from === `${n.id}.out`);
  let trigger: BacktestPlan["trigger"];
  if (triggerAt !== undefined && triggerAt >= 0) {
    const t = pipeline.nodes[triggerAt];
    const c = parsedConfig(triggerNode.config, t, triggerAt) as { cooldownMs: number; time?: { everyMs: number }; volume?: TriggerPolicyConfig["volume"]; performance?: TriggerPolicyConfig["performance"]; drift: false | { minMagnitude?: number } };
    const fedByDrift = drift !== undefined && c.drift !== false && pipeline.edges.some((e) => e.from === `${drift!.node}.drift` && e.to === `${t.id}.drift`);
    trigger = { node: t.id, config: { cooldownMs: c.cooldownMs, time: c.time, volume: c.volume, performance: c.performance, drift: c.drift === false ? undefined : c.drift }, fedByDrift };
  }
  return { trainer, drift, trigger, dataEdge: edgeId(dataEdge) };
}

function sampleOf(payload: unknown, ts: unknown, where: string): Sample {
  let example: { x: Float32Array; y: number };
  try {
    example = exampleOf(payload);
  } catch (err) {
    throw new BacktestInputError(`${where}: ${(err as Error).message}`);
  }
  const time = typeof ts === "string" ? Date.parse(ts) : ts;
  if (time !== undefined && (typeof time !== "number" || !Number.isFinite(time))) throw new BacktestInputError(`${where}: ts must be ms since the epoch or an ISO date, got ${JSON.stringify(ts)}`);
  return { ...example, ts: time as number | undefined };
}

/**
 * A JSONL file in the data folder: a message envelope a line (`{"ts":…, "payload":{"x":…,"y":…}}`,
 * as `evoflow tap` prints them) or a bare example (`{"x":[…],"y":3,"ts":…}`).
 */
export async function readJsonlSamples(dataDir: string, file: string): Promise<Sample[]> {
  const real = await realFileInside(dataDir, file, `the data folder ${dataDir}`).catch((err: Error) => {
    throw new BacktestInputError(`--input: ${err.message}`);
  });
  const samples: Sample[] = [];
  (await readFile(real, "utf8")).split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new BacktestInputError(`${where}: not JSON (${(err as Error).message})`);
    }
    samples.push(v && typeof v === "object" && "payload" in v ? sampleOf(v.payload, v.ts, where) : sampleOf(v, v?.ts, where));
  });
  return samples;
}

/** The labelled examples an edge carried, read back from the pipeline's JetStream stream. */
export async function readNatsSamples(host: CommandHost, options: { nats: string; pipeline: string; edge: string }): Promise<Sample[]> {
  const samples: Sample[] = [];
  for await (const { seq, message } of host.readRecordedEdge(options)) samples.push(sampleOf(message.payload, message.ts, `${options.pipeline} stream seq ${seq}`));
  return samples;
}
