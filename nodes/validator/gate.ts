import { z } from "zod";
import { isHoldout, exampleOf } from "../continual-learning/examples";
import type { LabelledSet } from "../continual-learning/fashion-mnist";
import { evaluateArtifact, gateConfigSchema, runGate } from "../continual-learning/gate";
import type { CostModel } from "../../sdk/cost";
import { HistoryStore, historyRootFromNodeDir, type HistoryEntry } from "../continual-learning/history";
import { clMetrics } from "../continual-learning/metrics";
import { rolloutConfigSchema, type LiveRollout, type RolloutRouter } from "../continual-learning/rollout";
import { readSnapshot } from "../continual-learning/snapshot";
import { ClassBalancedBuffer, RecentPerClass } from "../continual-learning/strategies";
import { seededRandom } from "../../sdk/random";
import { configPath, defineNode, port } from "../../sdk";
import { models as modelsService, registry as registryService, rollouts as rolloutsService } from "../services";
import type { ModelService } from "../../sdk/models";
import { EXEC_FORMATS, type ModelFormat } from "../../sdk/registry";
import type { CandidateEvent } from "../trainer/common";

const config = gateConfigSchema.extend({
  service: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).optional().describe("Name the CL history is kept under; defaults to the pipeline name"),
  holdoutShare: z.number().min(0).max(0.9).default(0.2).describe("Share of labelled examples kept as holdout (same rule as the trainer's, which skips them)"),
  holdoutSeed: z.number().int().default(0).describe("Seed of the holdout split, a hash of each example's features, so the same stream gives the same holdout on every run (the trainer's must match)"),
  holdoutPerClass: z.number().int().min(5).max(1_000_000).default(100).describe("Newest holdout examples kept per class: the gate judges on these (every class seen stays represented, in its latest form) (at most 1,000,000)"),
  holdoutPerExperience: z.number().int().min(10).max(10_000_000).default(1000).describe("Holdout examples kept per experience, class-balanced, for the accuracy matrix (at most 10,000,000)"),
  golden: configPath({ kind: "folder", describe: "Folder of a trusted golden-set snapshot (nodes/continual-learning/snapshot.ts format): the guard against poisoned data" }).optional(),
  rollout: rolloutConfigSchema.default(rolloutConfigSchema.parse({})).describe("How a passed candidate becomes champion"),
});

/**
 * The gate between a trained candidate and serving. Every configured check must pass
 * (holdout accuracy on all classes seen — the newest holdout examples of each class, so after
 * a domain shift it judges on what will be served —, no regression overall or per class against the
 * champion, p99 latency and size budgets, a trusted golden set). A passed candidate is
 * promoted (hot swap, or a shadow / canary rollout through the `cl.rollouts` service, which
 * model.onnx nodes following the champion consult per request); a failed one, or one whose
 * rollout rolled back, is marked `rejected` with the reason and never served again. Labelled
 * examples on `holdout` that carry the served request's id (`requestId`, as sampler.collector
 * emits them) also score a running rollout's answers; messages on `feedback` (`requestId` and a
 * business metric) score an A/B test on metric "feedback". Every decision goes to the service's
 * history with the Avalanche metrics of the update (a rollout in progress as `pending`).
 */
export default defineNode({
  type: "validator.gate",
  category: "validator",
  title: "Validator gate",
  description:
    "Validates a candidate (holdout accuracy, no regression vs champion overall and per class, latency and size budgets, golden set), then promotes it (hot swap, a shadow or canary rollout judged on the late labels of served requests with automatic rollback, or a sequential A/B test on a sticky split, on accuracy or a business metric) or rejects it; records every decision in the CL history.",
  inputs: { candidate: port.model(), holdout: port.labelled(), feedback: port.record("feedback") },
  outputs: { decision: port.event("promotion") },
  config,
  services: [registryService],
  create: async (ctx, cfg) => {
    const registry = ctx.service(registryService);
    let router: RolloutRouter | undefined;
    if (cfg.rollout.mode !== "direct") {
      try {
        router = ctx.service(rolloutsService);
      } catch {
        throw new Error(`rollout mode "${cfg.rollout.mode}" needs the serving side to route traffic (the "cl.rollouts" service), which this runtime does not provide; use mode "direct"`);
      }
    }
    // sklearn and python candidates are judged as the agent serves them; a runtime without the models service judges ONNX ones only.
    let models: ModelService | undefined;
    try {
      models = ctx.service(modelsService);
    } catch {}
    const hosted = (name: string, version: number, format?: ModelFormat) => (models && format && EXEC_FORMATS.includes(format) ? { models, name, version } : undefined);
    const history = new HistoryStore(historyRootFromNodeDir(ctx.dataDir));
    const service = cfg.service ?? ctx.pipeline;
    const golden: LabelledSet | undefined = cfg.golden ? (await readSnapshot(await ctx.resolvePath(cfg.golden, { mustExist: true }))).set : undefined;
    const random = seededRandom(7);
    // Holdout examples per experience: experience e is what arrived before the e-th update was judged.
    const experiences: ClassBalancedBuffer[] = [];
    let current: ClassBalancedBuffer | undefined;
    let recent: RecentPerClass | undefined;
    let judged = 0;
    let lastDecision: Record<string, unknown> = {};
    let active: LiveRollout | undefined;
    let queue = Promise.resolve();
    // A stopping pipeline drains its edges first: a running rollout ends (rolled back) rather than hold the stop.
    ctx.signal.addEventListener("abort", () => active?.abort("the pipeline stopped during the rollout"), { once: true });

    const judge = async (candidate: CandidateEvent): Promise<Record<string, unknown>> => {
      if (current) (experiences.push(current), (current = undefined));
      if (!experiences.length) throw new Error("no holdout examples yet: wire labelled data to validator.gate.holdout");
      const holdout = recent!.contents();
      const bytes = await registry.readArtifact(candidate.name, candidate.version);
      const format = (await registry.get(candidate.name, candidate.version))?.artifact.format;
      const champion = await registry.get(candidate.name, "champion");
      const championBytes = champion && champion.version !== candidate.version ? await registry.readArtifact(candidate.name, champion.version) : undefined;
      const candidateHosted = hosted(candidate.name, candidate.version, format);
      const report = await runGate({
        candidate: bytes,
        candidateFormat: format,
        candidateHosted,
        champion: championBytes ? { bytes: championBytes, version: champion!.version, format: champion!.artifact.format, hosted: hosted(candidate.name, champion!.version, champion!.artifact.format) } : undefined,
        holdout,
        golden,
        config: cfg,
        cost: ctx.service<CostModel | undefined>("cost"),
      });

      // Avalanche's accuracy matrix: earlier rows from the accepted updates, this candidate's row on every experience so far.
      const accepted = (await history.list(service)).filter((e) => e.model === candidate.name && e.decision === "promoted" && e.metrics);
      const row: (number | null)[] = [];
      for (const buffer of experiences) row.push((await evaluateArtifact({ bytes, format, hosted: candidateHosted }, buffer.contents())).accuracy);
      const width = row.length;
      const previousRows = accepted.map((e) => e.metrics!.accuracyMatrix.at(-1)!).map((r) => [...r, ...Array(Math.max(0, width - r.length)).fill(null)].slice(0, width));
      const metrics = clMetrics([...previousRows, row]);

      await registry.putValidation(candidate.name, candidate.version, { passed: report.passed, reasons: report.reasons, checks: Object.fromEntries(report.checks.map((c) => [c.name, c])), createdAt: report.createdAt });
      if (report.candidate.profile) await registry.putProfile(candidate.name, candidate.version, report.candidate.profile);
      await registry.putMetrics(candidate.name, candidate.version, { holdoutAccuracy: report.candidate.holdout!.accuracy, averageAccuracy: metrics.averageAccuracy, bwt: metrics.bwt, forgetting: metrics.forgetting });

      const entry: HistoryEntry = {
        id: `${candidate.name}@${candidate.version}`,
        service,
        model: candidate.name,
        version: candidate.version,
        baseVersion: candidate.baseVersion,
        at: new Date().toISOString(),
        trigger: candidate.trigger,
        scenario: candidate.scenario,
        strategy: { trainer: String(candidate.strategy.trainer ?? "unknown"), ...candidate.strategy },
        snapshot: candidate.snapshot,
        trainingMs: candidate.trainingMs,
        samplesSeen: candidate.samplesSeen,
        sizeBytes: candidate.sizeBytes,
        metrics: { accuracyMatrix: metrics.accuracyMatrix, averageAccuracy: metrics.averageAccuracy, bwt: metrics.bwt, forgetting: metrics.forgetting, holdoutAccuracy: report.candidate.holdout!.accuracy },
        validation: report,
        decision: "pending",
      };
      if (!report.passed) {
        await registry.setStatus(candidate.name, candidate.version, "rejected", report.reasons.join("; "));
        // A rejected Python model loaded only to be judged: its workers go once idle.
        if (candidateHosted) models!.retire(candidate.name, candidate.version);
        entry.decision = "rejected";
      } else if (!router) {
        await registry.promote(candidate.name, candidate.version, `passed validator.gate (${report.checks.length} checks)`);
        entry.decision = "promoted";
      } else {
        active = router.startLive(registry, candidate.name, candidate.version, champion?.version, cfg.rollout);
        // A candidate judged while the pipeline drains on stop gets no traffic: its rollout would hold the stop forever.
        if (ctx.signal.aborted) active.abort("the pipeline stopped before the rollout could run");
        // Recorded while it runs, so the history shows the rollout in progress; the final entry replaces it.
        await history.append({ ...entry, rollout: active.status() });
        const result = await active.done;
        active = undefined;
        entry.rollout = result;
        entry.decision = result.state === "promoted" ? "promoted" : "rejected";
        if (result.state === "rolled-back") entry.reason = `${result.mode === "ab" ? "A/B test" : `${cfg.rollout.mode} rollout`} rolled back: ${result.reason}`;
      }
      judged++;
      entry.at = new Date().toISOString();
      await history.append(entry);
      const { decision } = entry;
      const reason = [...report.reasons, ...(entry.reason ? [entry.reason] : [])].join("; ") || undefined;
      ctx.log(decision === "promoted" ? "info" : "warn", `${candidate.name}@${candidate.version}: ${decision}${reason ? ` (${reason})` : ""}`);
      return { kind: "promotion", model: candidate.name, version: candidate.version, decision, reason, checks: report.checks, ...(entry.rollout ? { rollout: entry.rollout } : {}) };
    };

    return {
      async onMessage(portName, message, emit) {
        if (portName === "feedback") {
          // A business metric about a served request, for an A/B test on metric "feedback".
          const { requestId } = message.payload as { requestId?: unknown };
          if (typeof requestId !== "string") throw new Error("payload.requestId: a feedback message names the request it is about (its trace id)");
          if (active && "feedback" in active) active.feedback(requestId, message);
          return;
        }
        if (portName === "holdout") {
          const { x, y } = exampleOf(message.payload);
          // Labels of served requests (the collector's `requestId`) score a running rollout's answers.
          const { requestId } = message.payload as { requestId?: unknown };
          if (active && typeof requestId === "string") active.label(requestId, y);
          if (!isHoldout(x, cfg.holdoutShare, cfg.holdoutSeed)) return;
          current ??= new ClassBalancedBuffer(cfg.holdoutPerExperience, x.length, random);
          recent ??= new RecentPerClass(cfg.holdoutPerClass, x.length);
          recent.add(x, y);
          current.add({ x, y: Int32Array.of(y), count: 1, features: x.length });
          return;
        }
        // Candidates are judged one at a time, in arrival order.
        const candidate = message.payload as CandidateEvent;
        const run = queue.then(async () => {
          try {
            lastDecision = await judge(candidate);
          } catch (err) {
            // A candidate that could not be validated is never served: reject it, with the reason, and record it.
            const reason = `validation could not run: ${(err as Error).message}`;
            await registry.setStatus(candidate.name, candidate.version, "rejected", reason).catch(() => undefined);
            await history.append({ id: `${candidate.name}@${candidate.version}`, service, model: candidate.name, version: candidate.version, baseVersion: candidate.baseVersion, at: new Date().toISOString(), trigger: candidate.trigger, scenario: candidate.scenario, strategy: { trainer: String(candidate.strategy.trainer ?? "unknown"), ...candidate.strategy }, snapshot: candidate.snapshot, trainingMs: candidate.trainingMs, samplesSeen: candidate.samplesSeen, sizeBytes: candidate.sizeBytes, decision: "failed", error: reason });
            throw err;
          }
          await emit("decision", lastDecision);
        });
        queue = run.catch(() => undefined);
        await run;
      },
      status: () => ({ experiences: experiences.length + (current ? 1 : 0), judged, last: lastDecision, ...(active ? { rollout: active.status() } : {}) }),
    };
  },
});
