import { z } from "zod";
import { sklearnTrainConfig, sklearnTrainerPool, trainSklearn } from "../continual-learning/sklearn-train";
import { chooseScenario } from "../continual-learning/strategies";
import { defineNode } from "../../sdk";
import { python as pythonService, registry as registryService } from "../services";
import { trainerCommonConfig, trainerInstance, trainerPorts } from "./common";

const config = z.object({
  ...trainerCommonConfig,
  ...sklearnTrainConfig,
  timeoutMs: z.number().int().min(1000).max(2_147_483_647).default(600_000).describe("A training taking longer is ended (its worker replaced) and recorded as failed (at most 2,147,483,647: setTimeout's limit)"),
  niceness: z.number().int().min(0).max(19).default(10).describe("Nice value of the training worker, so serving keeps its cores"),
});

/**
 * Trains an sklearn classifier as the CL loop's candidate, in one of the runtime's long-lived
 * Python workers (python/sklearn_trainer.py): stateful by `partial_fit` on a copy of the
 * champion's pickle (SGDClassifier, MLPClassifier, naive Bayes…), stateless by `fit` from
 * scratch. The candidate is registered as format `sklearn` and goes through the same gate,
 * rollouts and history as trainer.tfjs's ONNX candidates; the agent serves it over OIP.
 */
export default defineNode({
  type: "trainer.sklearn",
  category: "trainer",
  title: "Trainer (scikit-learn)",
  description:
    "On a trigger or a sampler's dataset, trains an sklearn classifier in a Python worker: stateful (partial_fit on a copy of the champion, e.g. SGDClassifier or MLPClassifier) or stateless (fit from scratch); registers the candidate (format sklearn, a joblib file) with its lineage and emits it for validator.gate.",
  ...trainerPorts,
  // It unpickles the champion and writes a pickle the agent will load: both run code.
  capabilities: ["exec"],
  services: [registryService, pythonService],
  config,
  create: (ctx, cfg) => {
    const { model: _m, minSamples: _a, maxSamples: _b, holdoutShare: _c, holdoutSeed: _d, timeoutMs, niceness, ...trainConfig } = cfg;
    const pool = sklearnTrainerPool(ctx.service(pythonService), { pipeline: ctx.pipeline, node: ctx.nodeId, niceness, timeoutMs, log: (line) => ctx.log("info", line) });
    let started: Promise<void> | undefined;
    const instance = trainerInstance(ctx, cfg, "trainer.sklearn", async ({ data, champion, base, onProgress }) => {
      await (started ??= pool.start());
      // Only an sklearn champion can be trained further; another format (e.g. a tfjs-trained ONNX one) is replaced by a new estimator.
      const warmBase = champion?.artifact.format === "sklearn" ? base : undefined;
      onProgress({ samples: data.count, epochs: trainConfig.epochs, epoch: 0 });
      const result = await trainSklearn(pool, { data, base: warmBase, config: trainConfig });
      onProgress({ samples: data.count, epochs: trainConfig.epochs, epoch: trainConfig.epochs, trainAccuracy: result.trainAccuracy });
      const seen = champion?.labels.classes?.split(",").map(Number) ?? [];
      const { scenario, newClasses } = chooseScenario(seen, [...new Set(data.y)]);
      return {
        artifact: result.model,
        format: "sklearn",
        signature: result.signature,
        warmStart: result.warmStart,
        scenario,
        newClasses,
        samplesSeen: result.samplesSeen,
        trainingMs: result.trainingMs,
        strategy: { mode: cfg.mode, estimator: cfg.estimator, warmStart: result.warmStart, epochs: cfg.epochs },
        config: trainConfig,
        metrics: { trainAccuracy: result.trainAccuracy, trainingCpuSeconds: result.cpuSeconds },
        labels: { mode: cfg.mode, estimator: cfg.estimator, classes: [...new Set([...seen, ...data.y])].sort((a, b) => a - b).join(",") },
      };
    });
    return {
      ...instance,
      async stop() {
        await instance.stop?.();
        await pool.close();
      },
    };
  },
});
