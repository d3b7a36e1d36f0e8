import path from "node:path";
import { z } from "zod";
import { ExampleBuffer, exampleOf, isHoldout } from "../../runtime/cl/examples";
import { writeSnapshot } from "../../runtime/cl/snapshot";
import { ClStateStore } from "../../runtime/cl/state-store";
import { trainConfigSchema, type ClState } from "../../runtime/cl/train";
import { trainInChildProcess } from "../../runtime/cl/trainer-process";
import { defineNode, type Emit } from "../../runtime/node-contract";
import { port } from "../../runtime/ports";
import type { ModelRegistry } from "../../runtime/registry/types";

const config = trainConfigSchema.extend({
  model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).describe("Registry model name the candidate is registered under (its champion is the warm start)"),
  minSamples: z.number().int().min(1).default(200).describe("A trigger with fewer new labelled examples is skipped (and recorded)"),
  maxSamples: z.number().int().min(1).default(20_000).describe("Newest labelled examples kept for the next training"),
  holdoutShare: z.number().min(0).max(0.9).default(0.2).describe("Share of labelled examples kept out of training for the validator (same rule as validator.gate's)"),
  niceness: z.number().int().min(0).max(19).default(10).describe("Nice value of the training process: higher leaves more CPU to serving"),
});

function stateFromLabels(labels: Record<string, string>): ClState | undefined {
  const classes = labels.classes?.split(",").map(Number).filter((c) => Number.isInteger(c) && c >= 0);
  return classes?.length ? { seenClasses: classes, experiences: 1 } : undefined;
}

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

/**
 * Trains a candidate when a trigger fires, from the labelled examples gathered since the
 * last training (minus the holdout share), in a low-priority child process so serving keeps
 * its latency. Stateful runs warm-start from the registry champion's ONNX weights and its
 * saved CL state (replay buffer, EWC importance, seen classes). The candidate is registered
 * with lineage (base version, data snapshot, config, training time, samples seen) and
 * announced on `candidate`; progress goes out on `progress`.
 */
export default defineNode({
  type: "trainer.tfjs",
  category: "trainer",
  title: "Trainer (tfjs)",
  description:
    "On a trigger, trains a dense model (softmax regression or MLP) with tfjs in a child process: stateful (warm start from the champion, replay / EWC / LwF) or stateless; registers the candidate with its lineage and emits it.",
  inputs: { data: port.labelled(), trigger: port.event() },
  outputs: { candidate: port.model(), progress: port.metrics() },
  config,
  create: (ctx, cfg) => {
    const registry = ctx.service<ModelRegistry>("registry");
    const buffer = new ExampleBuffer(cfg.maxSamples);
    const states = new ClStateStore(path.join(ctx.dataDir, "state"));
    let running: Promise<void> | undefined;
    let trainings = 0;
    let skipped = 0;
    let last: { version?: number; error?: string; at?: string } = {};
    let progress: Record<string, number> = {};

    const trainNow = async (trigger: { kind: string; reason?: string }, emit: Emit) => {
      const champion = await registry.get(cfg.model, "champion");
      const base = champion ? await registry.readArtifact(cfg.model, champion.version) : undefined;
      // A champion this node did not train has no saved state; its `classes` label (e.g. "0,1,2,3,4") still says what it has seen.
      const state = champion ? ((await states.load(cfg.model, champion.version)) ?? stateFromLabels(champion.labels)) : undefined;
      const data = buffer.toSet();
      const messageIds = [...buffer.messageIds];
      buffer.clear();
      const { meta } = await writeSnapshot(path.join(ctx.dataDir, "snapshots"), data, { stream: `${ctx.pipeline}.${ctx.nodeId}.data`, messageIds });
      const { model: _m, minSamples: _a, maxSamples: _b, holdoutShare: _c, niceness, ...trainConfig } = cfg;
      const result = await trainInChildProcess(
        { config: trainConfig, data, base, state },
        {
          niceness,
          signal: ctx.signal,
          onProgress: (p) => {
            progress = { epoch: p.epoch, epochs: p.epochs, loss: p.loss, samples: p.samples };
            void emit("progress", progress);
          },
        },
      );
      const strategy = { trainer: "trainer.tfjs", mode: cfg.mode, warmStart: result.warmStart, replay: cfg.replay, ewc: cfg.ewc, lwf: cfg.lwf, epochs: cfg.epochs };
      const registered = await registry.register({
        name: cfg.model,
        artifact: result.onnx,
        metrics: { trainingMs: result.trainingMs, samplesSeen: result.samplesSeen, finalLoss: result.finalLoss },
        labels: { scenario: result.scenario, trigger: trigger.kind, trainer: "trainer.tfjs", mode: cfg.mode, classes: result.state.seenClasses.join(",") },
        lineage: { baseVersion: result.warmStart ? champion?.version : undefined, data: { snapshot: meta.id }, trainer: { ...trainConfig, snapshotSource: meta.source.stream } },
      });
      await states.save(cfg.model, registered.version, result.state);
      trainings++;
      last = { version: registered.version, at: new Date().toISOString() };
      const event: CandidateEvent = {
        kind: "candidate",
        name: cfg.model,
        version: registered.version,
        baseVersion: result.warmStart ? champion?.version : undefined,
        trigger,
        scenario: result.scenario,
        newClasses: result.newClasses,
        snapshot: { id: meta.id, count: meta.count, classes: meta.classes, source: { stream: meta.source.stream, messages: messageIds.length } },
        strategy,
        trainingMs: result.trainingMs,
        samplesSeen: result.samplesSeen,
        sizeBytes: result.onnx.byteLength,
      };
      ctx.log("info", `trained ${cfg.model}@${registered.version} (${result.scenario}, ${meta.count} examples, ${Math.round(result.trainingMs)} ms)`);
      await emit("candidate", event);
    };

    return {
      async onMessage(portName, message, emit) {
        if (portName === "data") {
          if (isHoldout(message.id, cfg.holdoutShare)) return;
          const { x, y } = exampleOf(message.payload);
          buffer.add(x, y, message.id);
          return;
        }
        const trigger = message.payload as { kind: string; reason?: string };
        // One training at a time ("best effort", as Continuum calls it): triggers during a run are counted, not queued.
        if (running || buffer.count < cfg.minSamples) {
          skipped++;
          ctx.log("info", running ? "trigger while training: skipped" : `trigger with ${buffer.count} new examples (< ${cfg.minSamples}): skipped`);
          return;
        }
        // Not awaited: examples keep arriving while the child process trains.
        running = trainNow({ kind: trigger.kind, reason: trigger.reason }, emit)
          .catch((err: Error) => {
            last = { error: err.message, at: new Date().toISOString() };
            ctx.log("error", `training failed: ${err.message}`);
          })
          .finally(() => (running = undefined));
      },
      /** Resolves when the training in progress (if any) has finished. */
      async stop() {
        await running;
      },
      status: () => ({ buffered: buffer.count, training: running !== undefined, trainings, skipped, progress, last }),
    };
  },
});
