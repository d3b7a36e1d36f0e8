/**
 * What every trainer node shares: gathering labelled examples (minus the validator's holdout
 * share) or taking a sampler's dataset snapshot, one training at a time, writing the exact
 * data snapshot, registering the candidate with its lineage and announcing it. A trainer
 * supplies only `train`.
 */
import path from "node:path";
import { z } from "zod";
import { ExampleBuffer, exampleOf, isHoldout, toSet } from "../continual-learning/examples";
import type { LabelledSet } from "../continual-learning/fashion-mnist";
import { concatSets } from "../continual-learning/strategies";
import { HistoryStore, historyRootFromNodeDir } from "../continual-learning/history";
import { readSnapshot, writeSnapshot, type SnapshotMeta, type SnapshotSource } from "../continual-learning/snapshot";
import { port, type Emit, type NodeContext, type NodeInstance } from "../../sdk";
import { EXEC_FORMATS, type ModelFormat, type ModelVersion, type RegisterInput } from "../../sdk/registry";
import { registry as registryService } from "../services";
import type { DatasetSnapshot } from "../sampler/dataset";

export const trainerPorts = {
  inputs: { data: port.labelled(), trigger: port.event(), dataset: port.record("dataset") },
  outputs: { candidate: port.model(), progress: port.metrics() },
};

export const trainerCommonConfig = {
  model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).describe("Registry model name the candidate is registered under (its champion is the warm start)"),
  minSamples: z.number().int().min(1).max(10_000_000).default(200).describe("A trigger with fewer new labelled examples is skipped (and recorded) (at most 10,000,000)"),
  maxSamples: z.number().int().min(1).max(10_000_000).default(20_000).describe("Newest labelled examples kept for the next training (at most 10,000,000)"),
  holdoutShare: z.number().min(0).max(0.9).default(0.2).describe("Share of labelled examples kept out of training for the validator (same rule as validator.gate's)"),
  holdoutSeed: z.number().int().default(0).describe("Seed of the holdout split (a hash of each example's features): the same as validator.gate's"),
};
type CommonConfig = { model: string; minSamples: number; maxSamples: number; holdoutShare: number; holdoutSeed: number };

/** Candidate announcements the validator gate consumes. */
export interface CandidateEvent {
  kind: "candidate";
  name: string;
  version: number;
  baseVersion?: number;
  trigger: { kind: string; reason?: string };
  scenario: string;
  newClasses: number[];
  snapshot: { id: string; count: number; classes: Record<string, number>; source: Record<string, unknown> };
  strategy: Record<string, unknown>;
  trainingMs: number;
  samplesSeen: number;
  sizeBytes: number;
}

export interface TrainInput {
  data: LabelledSet;
  snapshot: { dir: string; meta: SnapshotMeta };
  champion?: ModelVersion;
  /** The champion's artifact bytes (its format is `champion.artifact.format`). */
  base?: Uint8Array;
  onProgress(progress: Record<string, number>): void;
}

export interface TrainOutput {
  /** The candidate's artifact: an ONNX file, or e.g. an sklearn joblib file. */
  artifact: Uint8Array;
  /** Default "onnx". The gate judges every format through the same checks (nodes/continual-learning/gate.ts). */
  format?: ModelFormat;
  /** Inputs and outputs of a non-ONNX candidate (an ONNX file carries its own). */
  signature?: RegisterInput["signature"];
  warmStart: boolean;
  scenario: string;
  newClasses: number[];
  samplesSeen: number;
  trainingMs: number;
  strategy: Record<string, unknown>;
  /** The config as it ran, for the lineage. */
  config: Record<string, unknown>;
  metrics?: Record<string, number>;
  labels?: Record<string, string>;
  /** Called with the registered version (e.g. to keep CL state beside it). */
  registered?(version: number): Promise<void>;
}

export function trainerInstance(ctx: NodeContext, cfg: CommonConfig, trainer: string, train: (input: TrainInput) => Promise<TrainOutput>): NodeInstance {
  const registry = ctx.service(registryService);
  const buffer = new ExampleBuffer(cfg.maxSamples);
  const history = new HistoryStore(historyRootFromNodeDir(ctx.dataDir));
  let running: Promise<void> | undefined;
  let trainings = 0;
  let skipped = 0;
  let last: { version?: number; error?: string; at?: string } = {};
  let progress: Record<string, number> = {};
  /**
   * The snapshot of the last training on triggered data and the champion it started from, in case
   * that candidate is not promoted; its examples are read back from disk then rather than held
   * here between trainings (megabytes the serving process would carry for nothing once promoted).
   */
  let previous: { champion?: number; dir: string } | undefined;

  /** `retryIfRejected`: triggered data, which trains again (with what arrives meanwhile) should this candidate not be promoted. */
  const trainNow = async (trigger: CandidateEvent["trigger"], data: LabelledSet, source: SnapshotSource, emit: Emit, retryIfRejected: boolean) => {
    const champion = await registry.get(cfg.model, "champion");
    const base = champion ? await registry.readArtifact(cfg.model, champion.version) : undefined;
    const snapshot = await writeSnapshot(path.join(ctx.dataDir, "snapshots"), data, source);
    if (retryIfRejected) previous = { champion: champion?.version, dir: snapshot.dir };
    const out = await train({
      data,
      snapshot,
      champion,
      base,
      onProgress: (p) => {
        progress = p;
        void emit("progress", p);
      },
    });
    const baseVersion = out.warmStart ? champion?.version : undefined;
    const registered = await registry.register({
      name: cfg.model,
      artifact: out.artifact,
      format: out.format,
      signature: out.signature,
      // A trainer that makes a pickle holds "exec" (its node declares it): the registry stores only what such a node vouches for.
      allowExec: out.format !== undefined && EXEC_FORMATS.includes(out.format),
      metrics: { trainingMs: out.trainingMs, samplesSeen: out.samplesSeen, ...out.metrics },
      labels: { scenario: out.scenario, trigger: trigger.kind, trainer, ...out.labels },
      lineage: { baseVersion, data: { snapshot: snapshot.meta.id }, trainer: { type: trainer, ...out.config, dataSource: { stream: source.stream, ranges: source.ranges } } },
    });
    await out.registered?.(registered.version);
    trainings++;
    last = { version: registered.version, at: new Date().toISOString() };
    const { messageIds, ...sourceSummary } = snapshot.meta.source;
    const event: CandidateEvent = {
      kind: "candidate",
      name: cfg.model,
      version: registered.version,
      baseVersion,
      trigger,
      scenario: out.scenario,
      newClasses: out.newClasses,
      snapshot: { id: snapshot.meta.id, count: snapshot.meta.count, classes: snapshot.meta.classes, source: { ...sourceSummary, messages: messageIds?.length, dir: snapshot.dir } },
      strategy: { trainer, ...out.strategy },
      trainingMs: out.trainingMs,
      samplesSeen: out.samplesSeen,
      sizeBytes: out.artifact.byteLength,
    };
    ctx.log("info", `trained ${cfg.model}@${registered.version} (${out.scenario}, ${snapshot.meta.count} examples, ${Math.round(out.trainingMs)} ms)`);
    await emit("candidate", event);
  };

  return {
    async onMessage(portName, message, emit) {
      if (portName === "data") {
        const { x, y } = exampleOf(message.payload);
        if (isHoldout(x, cfg.holdoutShare, cfg.holdoutSeed)) return;
        buffer.add(x, y, message.id);
        return;
      }
      let trigger: CandidateEvent["trigger"];
      let data: LabelledSet;
      let source: SnapshotSource;
      if (portName === "dataset") {
        const snapshot = message.payload as DatasetSnapshot;
        if (!Array.isArray(snapshot.items)) throw new Error("the dataset snapshot has no items: set includeItems on the sampler");
        data = toSet(snapshot.items.map((item) => exampleOf(item)));
        trigger = { kind: "dataset", reason: `dataset snapshot from ${snapshot.source.node} (${snapshot.source.sampler})` };
        source = { stream: `${snapshot.source.pipeline}.${snapshot.source.node}`, ...(snapshot.range ? { ranges: [{ from: snapshot.range.first, to: snapshot.range.last }] } : {}), messageIds: snapshot.messages, sampler: snapshot.source };
      } else {
        const event = message.payload as { kind: string; policy?: string; reason?: string };
        trigger = { kind: event.policy ?? event.kind, reason: event.reason };
        data = buffer.toSet();
        let messageIds = [...buffer.messageIds];
        // The last candidate was not promoted (the champion is the one it started from): its examples are still new to the champion, so they train again.
        const champion = (await registry.get(cfg.model, "champion"))?.version;
        if (!running && previous && previous.champion === champion && data.count < cfg.maxSamples) {
          const { set, meta } = await readSnapshot(previous.dir);
          data = data.count ? concatSets(set, data) : set;
          messageIds = [...(meta.source.messageIds ?? []), ...messageIds];
        }
        source = { stream: `${ctx.pipeline}.${ctx.nodeId}.data`, messageIds };
      }
      // One training at a time ("best effort", as Continuum calls it): triggers during a run are counted, not queued.
      if (running || data.count < cfg.minSamples) {
        skipped++;
        ctx.log("info", running ? "trigger while training: skipped" : `trigger with ${data.count} new examples (< ${cfg.minSamples}): skipped`);
        return;
      }
      if (portName !== "dataset") buffer.clear();
      // Not awaited: examples keep arriving while training runs in its own process.
      running = trainNow(trigger, data, source, emit, portName !== "dataset")
        .catch(async (err: Error) => {
          const at = new Date().toISOString();
          last = { error: err.message, at };
          ctx.log("error", `training failed: ${err.message}`);
          // A failed update is part of the service's history too (the gate records the ones that produced a candidate).
          await history
            .append({ id: `${cfg.model}-failed-${Date.now()}`, service: ctx.pipeline, model: cfg.model, at, trigger, strategy: { trainer }, decision: "failed", error: err.message })
            .catch(() => undefined);
        })
        .finally(() => (running = undefined));
    },
    /** Waits for the training in progress (the pipeline's abort signal stops its process). */
    async stop() {
      await running;
    },
    status: () => ({ buffered: buffer.count, training: running !== undefined, trainings, skipped, progress, last }),
  };
}
