import { z } from "zod";
import { exampleOf, isHoldout } from "../continual-learning/examples";
import { defineNode, isTensor, port, tensor, type Emit } from "../../sdk";
import type { RegistryEvent } from "../../sdk/registry";
import { registry as registryService } from "../services";
import { trainerCommonConfig, type CandidateEvent } from "../trainer/common";
import { learnerConfig, ONLINE_FORMAT, OnlineLearner } from "./online/learner";

const config = z.object({
  model: trainerCommonConfig.model,
  learner: learnerConfig.describe('"logistic-regression" (River\'s LogisticRegression with SGD, one-vs-rest) or "hoeffding-tree" (River\'s HoeffdingTreeClassifier), with their River defaults'),
  features: z.number().int().min(1).max(1_000_000).describe("Inputs per example (at most 1,000,000)"),
  classes: z.number().int().min(2).max(10_000).describe("Classes 0…classes−1; `out` gives one probability per class (at most 10,000)"),
  snapshotEvery: z.number().int().min(1).max(100_000_000).default(1000).describe("Labelled examples learnt between snapshots to the registry (each a candidate, announced on `candidate`)"),
  holdoutShare: trainerCommonConfig.holdoutShare,
  holdoutSeed: trainerCommonConfig.holdoutSeed,
});
type Config = z.output<typeof config>;

function featuresOf(payload: unknown, cfg: Config): Float32Array {
  const data = isTensor(payload) ? payload.data : payload;
  if (!(ArrayBuffer.isView(data) || Array.isArray(data)) || typeof (data as ArrayLike<unknown>)[0] !== "number") throw new Error("`in` takes a numeric tensor (or an array of numbers) of features");
  const x = Float32Array.from(data as ArrayLike<number>);
  if (x.length !== cfg.features) throw new Error(`\`in\` has ${x.length} features, the learner takes ${cfg.features}`);
  return x;
}

/**
 * An online learner that learns from every labelled message and serves from its current state.
 * Every `snapshotEvery` labelled examples it registers its state (format "online-json",
 * nodes/model/online/learner.ts) as a candidate and announces it on `candidate`, so validator.gate
 * judges it, the CL history records it and the registry keeps every version. The registry stays in
 * charge of which state serves: on start the learner resumes from the champion (else from its
 * newest snapshot that was not rejected); when the gate rejects its newest snapshot it goes back to
 * the champion (what it learnt since is dropped with it); when the champion changes to another
 * version (a rollback, `evoflow model promote`) it continues from that version.
 */
export default defineNode({
  type: "model.online",
  category: "model",
  title: "Online learner",
  description:
    "Learns from every labelled message (online logistic regression or a Hoeffding tree, River's definitions), answers `in` with class probabilities from its current state, and snapshots its state to the registry as online-json candidates for validator.gate; follows the champion on rejection and rollback.",
  inputs: { in: port.tensor({ dtype: "float32" }), learn: port.labelled() },
  outputs: { out: port.tensor({ dtype: "float32" }), candidate: port.model() },
  config,
  services: [registryService],
  create: async (ctx, cfg) => {
    const registry = ctx.service(registryService);
    const fresh = () => new OnlineLearner(cfg.learner, cfg.features, cfg.classes);
    const load = async (version: number) => {
      const record = await registry.get(cfg.model, version);
      if (record?.artifact.format !== ONLINE_FORMAT) throw new Error(`${cfg.model}@${version} is a ${record?.artifact.format ?? "missing"} model, not an online learner's online-json snapshot`);
      const learner = OnlineLearner.fromSnapshot(await registry.readArtifact(cfg.model, version));
      if (learner.features !== cfg.features || learner.classes !== cfg.classes || learner.config.kind !== cfg.learner.kind)
        throw new Error(`${cfg.model}@${version} is a ${learner.config.kind} over ${learner.features} features and ${learner.classes} classes; this node is configured for a ${cfg.learner.kind} over ${cfg.features} and ${cfg.classes}`);
      return learner;
    };
    const resumeFrom = (await registry.get(cfg.model, "champion")) ?? (await registry.versions(cfg.model)).filter((v) => v.status !== "rejected").at(-1);
    let learner = resumeFrom ? await load(resumeFrom.version) : fresh();
    /** The registry version the live state grew from, and the newest snapshot this node made. */
    let base = resumeFrom?.version;
    let newest: number | undefined;
    let sinceSnapshot = 0;
    let learningMs = 0;
    let snapshots = 0;
    let restores = 0;
    const prequential = { right: 0, count: 0 };
    let snapshotting: Promise<void> | undefined;

    const restore = async (version: number, why: string) => {
      learner = await load(version);
      base = version;
      sinceSnapshot = 0;
      restores++;
      ctx.log("info", `online learner back on ${cfg.model}@${version}: ${why}`);
    };
    const onEvent = (event: RegistryEvent) => {
      const change =
        event.type === "champion" && event.version !== base && event.version !== newest
          ? restore(event.version, "the champion changed")
          : event.type === "champion" && event.version === newest
            ? Promise.resolve(void (base = event.version))
            : event.type === "status" && event.status === "rejected" && event.version === newest
              ? registry.get(cfg.model, "champion").then((champion) => (champion ? restore(champion.version, `${cfg.model}@${event.version} was rejected`) : ctx.log("warn", `${cfg.model}@${event.version} was rejected and there is no champion to go back to`)))
              : undefined;
      change?.catch((err: Error) => ctx.log("error", `online learner could not follow the registry: ${err.message}`));
    };
    const unwatch = registry.watch(cfg.model, onEvent);

    const snapshot = async (emit: Emit) => {
      const artifact = learner.snapshot();
      const examples = sinceSnapshot;
      const ms = learningMs;
      (sinceSnapshot = 0), (learningMs = 0);
      const registered = await registry.register({
        name: cfg.model,
        artifact,
        format: ONLINE_FORMAT,
        metrics: { updates: learner.updates, prequentialAccuracy: prequential.count ? prequential.right / prequential.count : NaN },
        labels: { trainer: "model.online", learner: cfg.learner.kind },
        lineage: { baseVersion: base, trainer: { type: "model.online", learner: cfg.learner, updates: learner.updates, examplesSinceBase: examples } },
      });
      newest = registered.version;
      snapshots++;
      const event: CandidateEvent = {
        kind: "candidate",
        name: cfg.model,
        version: registered.version,
        baseVersion: base,
        trigger: { kind: "volume", reason: `${examples} labelled examples learnt since the last snapshot` },
        scenario: "online",
        newClasses: [],
        snapshot: { id: `${cfg.model}@${registered.version}`, count: examples, classes: {}, source: { stream: `${ctx.pipeline}.${ctx.nodeId}.learn` } },
        strategy: { trainer: "model.online", learner: cfg.learner.kind },
        trainingMs: ms,
        samplesSeen: examples,
        sizeBytes: artifact.byteLength,
      };
      await emit("candidate", event);
    };

    return {
      async onMessage(portName, message, emit) {
        if (portName === "in") {
          const probabilities = learner.predictProbaOne(featuresOf(message.payload, cfg));
          await emit("out", tensor("float32", [1, cfg.classes], probabilities), base !== undefined ? { model: { name: cfg.model, version: base } } : undefined);
          return;
        }
        const { x, y } = exampleOf(message.payload);
        learner.check(x, y); // a bad example is a dead letter even when it would fall in the holdout
        if (isHoldout(x, cfg.holdoutShare, cfg.holdoutSeed)) return;
        const started = performance.now();
        // Test-then-train (River's progressive validation): predict the example before learning it.
        const p = learner.predictProbaOne(x);
        prequential.count++;
        if (p.indexOf(Math.max(...p)) === y) prequential.right++;
        learner.learnOne(x, y);
        learningMs += performance.now() - started;
        sinceSnapshot++;
        if (sinceSnapshot >= cfg.snapshotEvery && !snapshotting) {
          snapshotting = snapshot(emit).finally(() => (snapshotting = undefined));
          await snapshotting;
        }
      },
      async stop() {
        await snapshotting;
        unwatch();
      },
      status: () => ({ learner: cfg.learner.kind, updates: learner.updates, base, newest, snapshots, restores, sinceSnapshot, prequentialAccuracy: prequential.count ? prequential.right / prequential.count : undefined }),
    };
  },
});
