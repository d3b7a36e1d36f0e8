/**
 * `control.trigger`: decides when the continual-learning loop trains. Feed it
 * labelled samples on `samples` (volume policy), prediction outcomes on `outcomes`
 * (performance policy: a boolean at `correct`, or compare `prediction` with
 * `label`), drift events on `drift`; the time policy runs on its own clock. It emits
 * a `TriggerEvent` on `out` saying which policy fired and why; a cooldown keeps one
 * drift from starting ten trainings. See trigger-policy.ts for the rules.
 */
import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { parsePath, readPath, valuePathSchema } from "../drift/value-path";
import { TriggerPolicy } from "./trigger-policy";

export default defineNode({
  type: "control.trigger",
  category: "control",
  title: "Training trigger",
  description: "Fires a trigger event when a training should start: on a schedule, after N new labelled samples (or +x %), when rolling accuracy falls under a threshold, or on drift; with a cooldown.",
  inputs: { samples: port.any(), outcomes: port.any(), drift: port.event("drift") },
  outputs: { out: port.event("trigger") },
  acceptsSync: false,
  config: z
    .object({
      cooldownMs: z.number().int().min(0).max(2_147_483_647).default(600_000).describe("After firing, further firings are suppressed (and counted) for this long (at most 2,147,483,647: setTimeout's limit, about 24.8 days)"),
      time: z.object({ everyMs: z.number().int().min(1).max(2_147_483_647).describe("Fire this often (at most 2,147,483,647: setTimeout's limit, about 24.8 days)") }).optional().describe("Time policy"),
      volume: z
        .object({
          samples: z.number().int().min(1).max(1_000_000_000).optional().describe("Fire after this many new labelled samples (at most 1,000,000,000)"),
          growth: z.number().positive().optional().describe("Or when new samples reach this share of those the last training had (0.2 = +20 %)"),
        })
        .refine((v) => v.samples !== undefined || v.growth !== undefined, { message: "give samples or growth" })
        .optional()
        .describe("Volume policy, counting messages on `samples`"),
      performance: z
        .object({
          threshold: z.number().min(0).max(1).describe("Fire when rolling accuracy is under this"),
          window: z.number().int().min(1).max(10_000_000).default(500).describe("Outcomes in the rolling window (at most 10,000,000)"),
          minOutcomes: z.number().int().min(1).max(10_000_000).default(100).describe("Outcomes needed before the policy may fire (at most 10,000,000)"),
          correct: valuePathSchema.default("payload.correct").describe("Path to a boolean: was the prediction right?"),
          prediction: valuePathSchema.optional().describe("Or: path to the predicted label, compared with `label`"),
          label: valuePathSchema.optional().describe("Path to the true label, with `prediction`"),
        })
        .optional()
        .describe("Performance policy, reading messages on `outcomes`"),
      drift: z
        .union([z.object({ minMagnitude: z.number().min(0).optional().describe("Only drift events at least this large") }), z.literal(false)])
        .default({})
        .describe("Drift policy, reading drift events on `drift` (on by default; false turns it off)"),
    })
    .refine((c) => c.time || c.volume || c.performance || c.drift !== false, { message: "enable at least one policy: time, volume, performance or drift" }),
  create: (ctx, c) => {
    const policy = new TriggerPolicy(
      { cooldownMs: c.cooldownMs, time: c.time, volume: c.volume, performance: c.performance, drift: c.drift === false ? undefined : c.drift },
      Date.now(),
    );
    const perf = c.performance;
    const paths = perf && {
      correct: parsePath(perf.correct)!,
      prediction: perf.prediction ? parsePath(perf.prediction) : undefined,
      label: perf.label ? parsePath(perf.label) : undefined,
    };
    let timer: NodeJS.Timeout | undefined;
    let last: unknown;
    return {
      start(emit) {
        if (!c.time) return;
        // Checked at a tenth of the period so the schedule drifts by at most that much.
        timer = setInterval(() => {
          const event = policy.tick(Date.now());
          if (event) {
            last = event;
            void emit("out", event).catch((err) => ctx.log("warn", `trigger event not delivered: ${(err as Error).message}`));
          }
        }, Math.max(10, Math.floor(c.time.everyMs / 10)));
        ctx.signal.addEventListener("abort", () => clearInterval(timer));
      },
      async onMessage(portName, message, emit) {
        const now = Date.now();
        let event;
        if (portName === "samples") event = policy.sample(now);
        else if (portName === "drift") event = policy.drift(message.payload as { detector?: string; magnitude?: number; reason?: string }, now);
        else if (paths) {
          let correct: unknown;
          if (paths.prediction && paths.label) correct = readPath(message, paths.prediction) === readPath(message, paths.label);
          else correct = readPath(message, paths.correct);
          if (typeof correct !== "boolean") throw new Error(`${perf!.correct} is not a boolean in this message`);
          event = policy.outcome(correct, now);
        } else return;
        if (!event) return;
        last = event;
        await emit("out", event);
      },
      stop() {
        clearInterval(timer);
      },
      status: () => ({ ...policy.status, coolingDown: policy.coolingDown(Date.now()), last }),
    };
  },
});
