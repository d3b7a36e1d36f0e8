import { z } from "zod";
import { defineNode, isTensor, port, type Tensor } from "../../sdk";
import { checkModelName } from "../../sdk/registry";
import { ThompsonBandit } from "../continual-learning/bandit";
import { HistoryStore, historyRootFromNodeDir } from "../continual-learning/history";
import { MAX_AWAITING_LABEL, predictedClass } from "../continual-learning/live-answer";
import { parsePath, readPath, toNumber, valuePathSchema } from "../drift/value-path";
import { models as modelsService } from "../services";
import { Batcher } from "./batcher";

const config = z.object({
  model: z.string().refine((s) => { try { checkModelName(s); return true; } catch { return false; } }, { message: "a registry model name" }).describe("Registry model whose versions are the arms"),
  versions: z
    .array(z.number().int().min(1))
    .min(2)
    .max(64)
    .refine((v) => new Set(v).size === v.length, { message: "versions must differ" })
    .describe("The versions traffic is shared between (at least two)"),
  reward: z.enum(["accuracy", "feedback"]).default("accuracy").describe("accuracy: reward 1 when the answer's class equals the label on the feedback message (at `labelAt`), else 0; feedback: a reward in [0, 1] at `rewardAt`"),
  labelAt: valuePathSchema.default("payload.y").describe("reward accuracy: the true class in each feedback message (labelled examples as sampler.collector emits them)"),
  rewardAt: valuePathSchema.default("payload.reward").describe("reward feedback: the reward in [0, 1] in each feedback message (true/false count as 1/0)"),
  tensorField: z.string().regex(/^[A-Za-z_$][\w$-]*$/).optional().describe('The payload is a record and the tensor is this field (e.g. "x"); absent: the payload is the tensor'),
  seed: z.number().int().default(1).describe("Seed of the posterior draws, so a run repeats"),
  reportEvery: z.number().int().min(1).max(10_000_000).default(500).describe("Rewards between the bandit's records in the CL history (its arms' statistics and traffic shares)"),
  service: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).optional().describe("Name the CL history is kept under; defaults to the pipeline name"),
  maxBatchSize: z.number().int().min(1).max(4096).default(16).describe("Rows stacked along dimension 0 into one run; 1 turns batching off"),
});

/**
 * A bandit router over several versions of one registry model: each request is answered by the
 * version Thompson sampling picks (nodes/continual-learning/bandit.ts), and feedback messages
 * (`requestId`: the trace id of the request, and a label or a reward) update that version's
 * posterior, so traffic moves to the version that earns more. Its statistics go to the CL history
 * every `reportEvery` rewards and to each version's model card.
 */
export default defineNode({
  type: "model.bandit",
  category: "model",
  title: "Bandit router",
  description:
    "Shares traffic between several versions of a registry model by Thompson sampling on Beta posteriors; rewards from feedback messages (label match or a business reward joined by request id) move traffic to the better version; its statistics go to the CL history and the model cards.",
  inputs: (c: z.output<typeof config>) => ({ in: c.tensorField ? port.record() : port.tensor(), feedback: port.record("feedback") }),
  outputs: { out: port.tensor() },
  config,
  services: [modelsService],
  create: async (ctx, cfg) => {
    const models = ctx.service(modelsService);
    const bandit = new ThompsonBandit(cfg.versions, cfg.seed);
    const history = new HistoryStore(historyRootFromNodeDir(ctx.dataDir));
    const service = cfg.service ?? ctx.pipeline;
    const described = new Map(await Promise.all(cfg.versions.map(async (v) => [v, await models.describe(cfg.model, v)] as const)));
    const batcher = new Batcher((version, inputs) => models.infer(cfg.model, version, inputs), cfg.maxBatchSize, 0);
    const awaiting = new Map<string, { version: number; predicted?: number }>();
    const [labelAt, rewardAt] = [parsePath(cfg.labelAt)!, parsePath(cfg.rewardAt)!];
    let reports = 0;
    let writing = Promise.resolve();

    const report = () => {
      const status = bandit.status();
      reports++;
      const entry = { id: `${ctx.nodeId}#bandit-${reports}`, service, model: cfg.model, at: status.at, trigger: { kind: "bandit", reason: `${status.rewards} rewards` }, strategy: { trainer: "none", policy: status.policy }, decision: "routed" as const, bandit: status };
      writing = writing.then(() => history.append(entry)).catch((err: Error) => ctx.log("warn", `bandit history: ${err.message}`));
      ctx.log("info", `bandit ${cfg.model}: ${status.arms.map((a) => `@${a.version} ${(100 * a.recentShare).toFixed(0)}% (mean ${a.posteriorMean.toFixed(3)})`).join(", ")}`);
    };

    return {
      async onMessage(portName, message, emit) {
        if (portName === "feedback") {
          const { requestId } = message.payload as { requestId?: unknown };
          if (typeof requestId !== "string") throw new Error("payload.requestId: a feedback message names the request it is about (its trace id)");
          const answer = awaiting.get(requestId);
          if (!answer) return;
          let value: number | undefined;
          if (cfg.reward === "accuracy") {
            const label = toNumber(readPath(message, labelAt));
            if (label === undefined) throw new Error(`${cfg.labelAt}: no label in the feedback message`);
            value = answer.predicted === label ? 1 : 0;
          } else {
            value = toNumber(readPath(message, rewardAt));
            if (value === undefined || value < 0 || value > 1) throw new Error(`${cfg.rewardAt}: the reward must be a number in [0, 1]`);
          }
          awaiting.delete(requestId);
          bandit.reward(answer.version, value);
          if (bandit.status().rewards % cfg.reportEvery === 0) report();
          return;
        }
        const payload = message.payload as Record<string, unknown>;
        const input = cfg.tensorField ? payload?.[cfg.tensorField] : message.payload;
        if (!isTensor(input)) throw new Error(cfg.tensorField ? `payload.${cfg.tensorField} is not a tensor` : "the payload is not a tensor");
        const version = bandit.choose();
        const d = described.get(version)!;
        const outputs = await batcher.submit(version, { [d.inputs[0].name]: input as Tensor });
        const out = outputs[d.outputs[0].name];
        awaiting.set(message.traceId, { version, predicted: predictedClass(out) });
        if (awaiting.size > MAX_AWAITING_LABEL) awaiting.delete(awaiting.keys().next().value!);
        await emit("out", out, { model: { name: cfg.model, version } });
      },
      async stop() {
        batcher.close(`bandit node ${ctx.nodeId} stopped`);
        await writing;
      },
      status: () => ({ ...bandit.status() }),
    };
  },
});
