import path from "node:path";
import { z } from "zod";
import { ClStateStore } from "../continual-learning/state-store";
import { trainConfigSchema, type ClState } from "../continual-learning/train";
import { trainInChildProcess } from "../continual-learning/trainer-process";
import { defineNode } from "../../sdk";
import { parseModelRef } from "../../sdk/registry";
import { registry as registryService } from "../services";
import { trainerCommonConfig, trainerInstance, trainerPorts } from "./common";

const config = trainConfigSchema.extend({
  ...trainerCommonConfig,
  niceness: z.number().int().min(0).max(19).default(10).describe("Nice value of the training process where Linux's idle scheduling class (chrt) is unavailable; with it, training only gets cores serving leaves idle"),
  extractor: z
    .object({
      model: z
        .string()
        .refine((s) => { try { parseModelRef(s, "champion"); return true; } catch { return false; } }, { message: 'use "name", "name@3", "name@champion" or "name@latest"' })
        .describe("Registry model that computes the features (name@version, name@champion; a bare name means the champion); its weights stay frozen"),
      output: z.string().min(1).describe("Name of the feature tensor in its graph: an output or any intermediate value (e.g. the layer before its classifier)"),
    })
    .optional()
    .describe("Train only a dense head (architecture) on a frozen ONNX feature extractor; the candidate is the extractor's graph followed by the head, as one model. Omit to train the whole dense model"),
});

/** A champion this node did not train has no saved state; its `classes` label (e.g. "0,1,2,3,4") still says what it has seen. */
function stateFromLabels(labels: Record<string, string>): ClState | undefined {
  const classes = labels.classes?.split(",").map(Number).filter((c) => Number.isInteger(c) && c >= 0);
  return classes?.length ? { seenClasses: classes, experiences: 1 } : undefined;
}

/**
 * Trains a candidate when a trigger fires (or a sampler's dataset arrives) in a low-priority
 * child process so serving keeps its latency. Stateful runs warm-start from the registry
 * champion's ONNX weights and its saved CL state (replay buffer, EWC importance, seen
 * classes). The candidate is registered with lineage and announced on `candidate`.
 */
export default defineNode({
  type: "trainer.tfjs",
  category: "trainer",
  title: "Trainer (tfjs)",
  description:
    "On a trigger (from the labelled examples gathered on `data`), or on a dataset snapshot from a sampler (`dataset`, e.g. sampler.mixer), trains a dense model (softmax regression or MLP, or such a head on a frozen ONNX feature extractor) with tfjs in a child process: stateful (warm start from the champion, replay / EWC / LwF) or stateless; registers the candidate with its lineage and emits it.",
  ...trainerPorts,
  // No "exec": its child process runs Evoflow's own training code (nodes/continual-learning/train-child.ts), never a command of the pipeline's.
  config,
  services: [registryService],
  create: (ctx, cfg) => {
    const states = new ClStateStore(path.join(ctx.dataDir, "state"));
    const { model, minSamples: _a, maxSamples: _b, holdoutShare: _c, niceness, extractor: extractorRef, ...trainConfig } = cfg;
    const registry = ctx.service(registryService);
    /** The extractor's bytes and exact version, looked up at each training (a `@champion` reference follows promotions). */
    const loadExtractor = async () => {
      if (!extractorRef) return undefined;
      const { name, ref } = parseModelRef(extractorRef.model, "champion");
      const version = await registry.get(name, ref);
      if (!version) throw new Error(`feature extractor ${extractorRef.model} is not in the registry`);
      return { bytes: await registry.readArtifact(name, version.version), output: extractorRef.output, version: `${name}@${version.version}` };
    };
    return trainerInstance(ctx, cfg, "trainer.tfjs", async ({ data, snapshot, champion, base, onProgress }) => {
      // The champion's saved state is read by the training process; a champion this node did not train starts from its labels.
      const saved = champion && (await states.has(model, champion.version)) ? states.file(model, champion.version) : undefined;
      const state = champion && !saved ? stateFromLabels(champion.labels) : undefined;
      const extractor = await loadExtractor();
      const pending = states.pendingFile();
      const result = await trainInChildProcess(
        { config: trainConfig, data, base, state, extractor },
        {
          niceness,
          snapshotDir: snapshot.dir,
          stateFiles: { from: saved, to: pending },
          signal: ctx.signal,
          onProgress: (p) => onProgress({ epoch: p.epoch, epochs: p.epochs, loss: p.loss, samples: p.samples }),
        },
      );
      return {
        artifact: result.onnx,
        warmStart: result.warmStart,
        scenario: result.scenario,
        newClasses: result.newClasses,
        samplesSeen: result.samplesSeen,
        trainingMs: result.trainingMs,
        strategy: { mode: cfg.mode, warmStart: result.warmStart, replay: cfg.replay, ewc: cfg.ewc, lwf: cfg.lwf, si: cfg.si, epochs: cfg.epochs, ...(extractor && { extractor: extractor.version }) },
        config: { ...trainConfig, ...(extractor && { extractor: { ...extractorRef, version: extractor.version } }) },
        metrics: { finalLoss: result.finalLoss },
        labels: { mode: cfg.mode, classes: result.state.seenClasses.join(",") },
        registered: (version) => states.adopt(pending, model, version),
      };
    });
  },
});
