import path from "node:path";
import { z } from "zod";
import { runExternalTrainer } from "../continual-learning/external";
import { chooseScenario } from "../continual-learning/strategies";
import { defineNode } from "../../sdk";
import { registry as registryService } from "../services";
import { trainerCommonConfig, trainerInstance, trainerPorts } from "./common";

const config = z.object({
  ...trainerCommonConfig,
  command: z
    .array(z.string())
    .min(1)
    .describe('argv of the training command, no shell; {snapshot}, {base}, {output}, {config} are replaced, e.g. ["python3", "train.py", "{snapshot}", "{base}", "{output}"]'),
  options: z.record(z.string(), z.unknown()).default({}).describe("Passed to the command as {config} / EVOFLOW_CONFIG (JSON)"),
  timeoutMs: z.number().int().min(1000).max(2_147_483_647).default(3_600_000).describe("The command is killed after this long (at most 2,147,483,647: setTimeout's limit, about 24.8 days)"),
  niceness: z.number().int().min(0).max(19).default(10).describe("Nice value of the command where Linux's idle scheduling class (chrt) is unavailable; with it, training only gets cores serving leaves idle"),
});

/**
 * Trains with a user's command, for models TypeScript cannot train well. The contract
 * (snapshot folder + champion ONNX in, ONNX with the champion's signature out, JSON progress
 * lines on stdout) is documented in nodes/continual-learning/external.ts.
 */
export default defineNode({
  type: "trainer.external",
  category: "trainer",
  title: "Trainer (external command)",
  description:
    "On a trigger or a sampler's dataset, runs your training command (e.g. a PyTorch script): dataset snapshot folder and champion ONNX in, candidate ONNX out (same signature), JSON progress lines on stdout; registers the candidate with its lineage and emits it.",
  ...trainerPorts,
  // It runs whatever argv the pipeline names: a deploy needs the runtime to grant "exec".
  capabilities: ["exec"],
  services: [registryService],
  config,
  create: (ctx, cfg) =>
    trainerInstance(ctx, cfg, "trainer.external", async ({ data, snapshot, champion, base, onProgress }) => {
      const result = await runExternalTrainer({
        command: cfg.command,
        snapshotDir: snapshot.dir,
        base,
        workDir: path.join(ctx.dataDir, "runs", snapshot.meta.id),
        config: cfg.options,
        timeoutMs: cfg.timeoutMs,
        niceness: cfg.niceness,
        signal: ctx.signal,
        onProgress,
        onLog: (line) => ctx.log("info", line),
      });
      const seen = champion?.labels.classes?.split(",").map(Number) ?? [];
      const classes = [...new Set(data.y)];
      const { scenario, newClasses } = chooseScenario(seen, classes);
      return {
        artifact: result.onnx,
        // The command was handed the champion; whether it started from it is its own business, so lineage names it as the base.
        warmStart: base !== undefined,
        scenario,
        newClasses,
        samplesSeen: result.samplesSeen ?? data.count,
        trainingMs: result.trainingMs,
        strategy: { command: cfg.command, options: cfg.options },
        config: { command: cfg.command, options: cfg.options },
        labels: { classes: [...new Set([...seen, ...classes])].sort((a, b) => a - b).join(",") },
      };
    }),
});
