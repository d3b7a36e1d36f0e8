import { z } from "zod";
import { defineNode, isTensor, port, type Tensor } from "../../sdk";
import { parseModelRef } from "../../sdk/registry";
import type { ModelDescription } from "../../sdk/models";
import type { LiveRollout, RolloutRouter } from "../continual-learning/rollout";
import { models as modelsService, rollouts as rolloutsService } from "../services";
import { Batcher } from "./batcher";

const config = z.object({
  model: z
    .string()
    .refine((s) => { try { parseModelRef(s, "champion"); return true; } catch { return false; } }, { message: 'use "name", "name@3", "name@champion" or "name@latest"' })
    .describe('Registry reference: "name@3" pins a version; "name@champion" (or just "name") follows the champion and hot-swaps when it changes'),
  io: z
    .enum(["tensor", "named"])
    .default("tensor")
    .describe("tensor: a Tensor in, fed to the model's input (see `input`), and one output tensor out; named: a record of Tensors by input name in, a record of every output by name out"),
  input: z.string().optional().describe("For io=tensor: the model input the tensor feeds; the model's only input when absent"),
  output: z.string().optional().describe("For io=tensor: the model output to emit; the model's first output when absent"),
  tensorField: z
    .string()
    .regex(/^[A-Za-z_$][\w$-]*$/)
    .optional()
    .describe('For io=tensor: the payload is a record and the tensor is this field of it (e.g. "x" in {user, x}), so other fields — an A/B test\'s sticky key — travel with the request'),
  maxBatchSize: z.number().int().min(1).max(4096).default(16).describe("Rows stacked along dimension 0 into one run; 1 turns batching off"),
  maxDelayMs: z.number().min(0).max(1000).default(0).describe("How long an idle model waits for more requests to fill a batch; 0 runs at once and batches only what queues while it is busy"),
});

/**
 * Runs a registry model on the `models` service (the in-process GPU agent, or agents
 * over NATS). Every request is pinned to the version current when it arrives, so on
 * a champion change new requests go to the new version at once while those in flight
 * finish on the old one, which is then retired once idle. It needs no `network` capability:
 * the agents it reaches (in process, over NATS, Triton behind an agent) are the runtime's own,
 * set up by the operator, never named by the pipeline.
 */
export default defineNode({
  type: "model.onnx",
  category: "model",
  title: "ONNX model",
  description:
    "Runs an ONNX model from the registry (name@version or name@champion) with dynamic batching; emits the outputs tagged with the model version for provenance, and hot-swaps to a new champion without failing a request.",
  inputs: (c: z.output<typeof config>) => ({ in: c.io === "named" ? port.record("tensors") : c.tensorField ? port.record() : port.tensor() }),
  outputs: (c: z.output<typeof config>) => ({ out: c.io === "named" ? port.record("tensors") : port.tensor() }),
  config,
  services: [modelsService],
  create: async (ctx, cfg) => {
    const models = ctx.service(modelsService);
    const { name, ref } = parseModelRef(cfg.model, "champion");
    const described = new Map<number, ModelDescription>();
    const describe = async (version: number) => {
      let d = described.get(version);
      if (!d) described.set(version, (d = await models.describe(name, version)));
      return d;
    };
    let current = await models.resolve(name, ref);
    await describe(current);
    let swaps = 0;

    // Requests still to finish per version, so an old version is retired only once the last one is done.
    const outstanding = new Map<number, number>();
    const retiring = new Set<number>();
    const finished = (version: number) => {
      const left = (outstanding.get(version) ?? 1) - 1;
      outstanding.set(version, left);
      if (left === 0 && retiring.has(version)) {
        retiring.delete(version);
        models.retire(name, version);
      }
    };

    const unwatch =
      ref === "champion"
        ? models.watchChampion(name, (version) => {
            if (version === undefined || version === current) return;
            const previous = current;
            current = version;
            swaps++;
            ctx.log("info", `hot swap ${name}@${previous} → ${name}@${version}`);
            if (outstanding.get(previous)) retiring.add(previous);
            else models.retire(name, previous);
          })
        : undefined;

    const batcher = new Batcher((version, inputs) => models.infer(name, version, inputs), cfg.maxBatchSize, cfg.maxDelayMs);

    const toInputs = (payload: unknown, d: ModelDescription): Record<string, Tensor> => {
      if (cfg.io === "named") return payload as Record<string, Tensor>;
      const inputName = cfg.input ?? (d.inputs.length === 1 ? d.inputs[0].name : undefined);
      if (!inputName) throw new Error(`model ${name}@${d.version} has inputs ${d.inputs.map((i) => i.name).join(", ")}: set \`input\`, or use io "named"`);
      return { [inputName]: payload as Tensor };
    };
    const tensorIn = (payload: unknown): unknown => {
      if (!cfg.tensorField) return payload;
      const t = payload && typeof payload === "object" ? (payload as Record<string, unknown>)[cfg.tensorField] : undefined;
      if (!isTensor(t)) throw new Error(`payload.${cfg.tensorField} is not a tensor (tensorField "${cfg.tensorField}")`);
      return t;
    };
    const fromOutputs = (outputs: Record<string, Tensor>, d: ModelDescription): unknown => {
      if (cfg.io === "named") return outputs;
      const outputName = cfg.output ?? d.outputs[0].name;
      const t = outputs[outputName];
      if (!t) throw new Error(`model ${name}@${d.version} has no output "${outputName}"`);
      return t;
    };

    // Shadow and canary rollouts (validator.gate) pick the version per request through the
    // `cl.rollouts` service; only a node following the champion takes part.
    let rollouts: RolloutRouter | undefined;
    if (ref === "champion") {
      try {
        rollouts = ctx.service(rolloutsService);
      } catch {
        // No `cl.rollouts` here: every request goes to the champion.
      }
    }
    const runOn = async (version: number, payload: unknown): Promise<unknown> => {
      outstanding.set(version, (outstanding.get(version) ?? 0) + 1);
      try {
        const d = described.get(version) ?? (await describe(version));
        return fromOutputs(await batcher.submit(version, toInputs(payload, d)), d);
      } finally {
        finished(version);
      }
    };
    // A rolled-back candidate is retired once its last request is done (a promoted one becomes champion through the watch).
    const followed = new WeakSet<LiveRollout>();
    const follow = (rollout: LiveRollout) => {
      followed.add(rollout);
      void rollout.done.then(({ state }) => {
        if (state !== "rolled-back" || rollout.candidate === current) return;
        if (outstanding.get(rollout.candidate)) retiring.add(rollout.candidate);
        else models.retire(name, rollout.candidate);
      });
    };

    return {
      async onMessage(_port, message, emit) {
        if (cfg.io === "named") {
          const p = message.payload as Record<string, unknown>;
          const bad = Object.keys(p).filter((k) => !isTensor(p[k]));
          if (bad.length) throw new Error(`io "named" needs a record of tensors; ${bad.map((k) => `"${k}"`).join(", ")} ${bad.length > 1 ? "are" : "is"} not`);
        }
        // The rollout hook: one map lookup when no rollout runs.
        const rollout = rollouts?.get(name);
        if (rollout) {
          if (!followed.has(rollout)) follow(rollout);
          const input = tensorIn(message.payload);
          const answered = await rollout.serve(message.traceId, (v) => runOn(v, input), message);
          await emit("out", answered.answer, { model: { name, version: answered.version } });
          return;
        }
        const version = current;
        outstanding.set(version, (outstanding.get(version) ?? 0) + 1);
        let payload: unknown;
        try {
          const d = described.get(version) ?? (await describe(version));
          const outputs = await batcher.submit(version, toInputs(tensorIn(message.payload), d));
          payload = fromOutputs(outputs, d);
        } finally {
          finished(version);
        }
        await emit("out", payload, { model: { name, version } });
      },
      stop() {
        unwatch?.();
        batcher.close(`model node ${ctx.nodeId} stopped`);
      },
      status: () => ({ model: `${name}@${current}`, ref, swaps, batches: batcher.batches, batchedRequests: batcher.batchedRequests }),
    };
  },
});
