/**
 * `sampler.uncertainty`: active learning's sampler. Scores each served prediction (least
 * confidence, margin, entropy, or random as the baseline), picks the most informative of each
 * window of requests within a label budget and a diversity rule (uncertainty.ts), and puts them
 * in a durable label queue (label-queue.ts) that people work through on the editor's labeling
 * page. Their labels come out on `labels` as `{requestId, label}` — wire it to the collector's
 * `label` input, so they join the served requests and reach training like any label.
 *
 * It reads the request's input and the model's scores from one message: join the request and
 * the model's answer by trace first (`control.join` with inputs `input` and `scores`).
 */
import { z } from "zod";
import { defineNode, isTensor, port, seededRandom, stringify, type Emit, type Message } from "../../sdk";
import { parsePath, readPath, valuePathSchema } from "../drift/value-path";
import { labelQueues } from "../services";
import { QUEUE_NAME, type LabelItem } from "./label-queue";
import { STRATEGIES, toProbabilities, topGuesses, uncertainty, WindowPicker, type Candidate } from "./uncertainty";

const HOUR = 3_600_000;
/** A request in the current window: what the queue item will hold. */
interface Pending {
  message: Message;
  requestId: string;
  input: unknown;
  guesses: LabelItem["guesses"];
}

const count = (max: number) => z.number().int().min(0).max(max);

export const uncertaintyNode = defineNode({
  type: "sampler.uncertainty",
  category: "sampler",
  title: "Uncertainty sampler",
  description:
    "Active learning: scores each prediction (least confidence, margin, entropy; random as a baseline), sends the most informative of each window of requests to a durable label queue within a budget per hour and day (at most perWindow a window, near-duplicate inputs skipped), and emits the labels people give on the labeling page on `labels` ({requestId, label, labeler, labelledAt}: wire it to the collector's `label`).",
  example: {
    config: { strategy: "entropy", classes: ["T-shirt/top", "Trouser"], budget: { perDay: 200 } },
    input: { input: { dtype: "float32", shape: [1, 784], data: "…" }, scores: { dtype: "float32", shape: [1, 2], data: [0.55, 0.45] } },
  },
  inputs: { in: port.any() },
  outputs: { selected: port.record("label-request"), labels: port.record("label") },
  services: [labelQueues],
  config: z.object({
    queue: z.string().regex(QUEUE_NAME).optional().describe("Label queue name (the labeling page's URL: #/labels/<queue>); default <pipeline>-<node id>"),
    strategy: z.enum(STRATEGIES).default("entropy").describe("least-confidence: 1 − max p; margin: 1 − (p₁ − p₂); entropy: normalised −Σ p log p; random: the baseline"),
    scores: valuePathSchema.default("payload.scores").describe("Path to the model's scores (a tensor or number array, one row)"),
    scoresAre: z.enum(["auto", "probabilities", "logits"]).default("auto").describe("auto: probabilities when they sum to 1, else logits (softmax applied)"),
    input: valuePathSchema.default("payload.input").describe("Path to what labelers see (an image-shaped tensor is drawn as an image, a record as a table); a numeric one is also what diversity compares"),
    requestId: valuePathSchema.default("traceId").describe("Path to the request id the collector joins labels by (the trace id by default, as the collector's)"),
    classes: z.array(z.string().min(1)).min(2).optional().describe("Class names in the model's output order; a label is the class index"),
    guesses: z.number().int().min(1).max(10).default(3).describe("The model's top guesses shown to labelers"),
    budget: z
      .object({
        perHour: count(1_000_000).optional().describe("Items sent to the queue per rolling hour, at most"),
        perDay: count(10_000_000).default(200).describe("Items sent to the queue per rolling day, at most"),
      })
      .default({ perDay: 200 })
      .describe("Counted from the queue's own records, so a restart does not reset it"),
    window: z
      .object({
        size: z.number().int().min(1).max(100_000).default(100).describe("Requests per window: the most informative of each are sent"),
        perWindow: z.number().int().min(1).max(100_000).default(5).describe("Items one window sends at most, so a burst cannot spend the budget"),
        maxWaitMs: z.number().int().min(10).max(86_400_000).default(60_000).describe("A window that has not filled up by then is closed anyway (quiet streams)"),
      })
      .default({ size: 100, perWindow: 5, maxWaitMs: 60_000 }),
    diversity: z
      .object({
        minDistance: z.number().min(0).max(2).default(0.02).describe("Cosine distance under which an input counts as a near-duplicate of one picked in this window or recently (0: off)"),
        recentPicks: z.number().int().min(0).max(10_000).default(100).describe("Past picks a new one is compared with"),
      })
      .default({ minDistance: 0.02, recentPicks: 100 }),
    minScore: z.number().min(0).max(1).default(0).describe("Requests scoring below this are never sent"),
    leaseSeconds: z.number().int().min(1).max(86_400).default(300).describe("How long an item is held for the labeler who took it before it returns to the queue"),
    seed: z.number().int().min(0).default(0).describe("Seed of the random strategy's draws"),
  }),
  create: async (ctx, c) => {
    const paths = { scores: parsePath(c.scores)!, input: parsePath(c.input)!, requestId: parsePath(c.requestId)! };
    const name = c.queue ?? `${ctx.pipeline}-${ctx.nodeId}`.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 128);
    const queue = await ctx.service(labelQueues).get(name, { ...(c.classes ? { classes: c.classes } : {}), leaseMs: c.leaseSeconds * 1000 });
    const picker = new WindowPicker<Pending>({
      windowSize: c.window.size,
      perWindow: c.window.perWindow,
      minDistance: c.diversity.minDistance,
      recentPicks: c.diversity.recentPicks,
      minScore: c.minScore,
    });
    const random = seededRandom(c.seed);
    let emit: Emit | undefined;
    let selected = 0;
    let windowOpenedAt = Date.now();
    const budgetLeft = () => Math.max(0, Math.min(c.budget.perHour === undefined ? Infinity : c.budget.perHour - queue.addedWithin(HOUR), c.budget.perDay - queue.addedWithin(24 * HOUR)));

    const send = async (picks: Candidate<Pending>[]) => {
      windowOpenedAt = Date.now();
      for (const { score, item } of picks) {
        const added = await queue.add({ requestId: item.requestId, input: item.input, guesses: item.guesses, score, strategy: c.strategy, source: { pipeline: ctx.pipeline, node: ctx.nodeId } });
        selected++;
        await emit?.("selected", { queue: name, item: added.id, requestId: item.requestId, score, strategy: c.strategy, guesses: item.guesses }, { parents: [item.message] });
      }
    };
    // Quiet streams: a window older than maxWaitMs is closed by the clock.
    const timer = setInterval(() => {
      if (picker.pending > 0 && Date.now() - windowOpenedAt >= c.window.maxWaitMs) void send(picker.flush(budgetLeft())).catch((err: Error) => ctx.log("error", `label queue ${name}: ${err.message}`));
    }, Math.min(c.window.maxWaitMs, 1000));
    timer.unref();

    return {
      async start(e) {
        emit = e;
        await queue.listen(async (item) => {
          await e("labels", { requestId: item.requestId, label: item.label!.value, labeler: item.label!.labeler, labelledAt: item.label!.at, queue: name, item: item.id }, { parents: [] });
        });
      },
      async onMessage(_port, message) {
        const id = readPath(message, paths.requestId);
        if (typeof id !== "string" && typeof id !== "number") throw new Error(`${c.requestId} is missing in this message`);
        const requestId = String(id);
        const raw = readPath(message, paths.scores);
        const scores = isTensor(raw) ? raw.data : raw;
        if (!Array.isArray(scores) && !ArrayBuffer.isView(scores)) throw new Error(`${c.scores} is not a tensor or an array of scores in this message`);
        const p = toProbabilities(scores as ArrayLike<number>, c.scoresAre);
        if (c.classes && c.classes.length !== p.length) throw new Error(`the model gives ${p.length} scores, the config names ${c.classes.length} classes`);
        if (queue.has(requestId)) return; // a request seen again (a retry, a replay): it is queued already
        const shown = readPath(message, paths.input);
        const numeric = isTensor(shown) && typeof shown.data[0] === "number" ? (shown.data as ArrayLike<number>) : Array.isArray(shown) && typeof shown[0] === "number" ? (shown as number[]) : p;
        const candidate = {
          score: uncertainty(p, c.strategy, random),
          features: numeric,
          // Stored as JSON: typed arrays become arrays.
          item: { message, requestId, input: JSON.parse(stringify(shown ?? null)) as unknown, guesses: topGuesses(p, c.guesses, c.classes) },
        };
        const picks = picker.offer(candidate, budgetLeft());
        if (picks) await send(picks);
      },
      async stop() {
        clearInterval(timer);
        await queue.listen(undefined);
      },
      status: () => ({ queue: name, ...queue.counts(), selected, budgetLeft: budgetLeft(), windowPending: picker.pending, nearDuplicates: picker.duplicates }),
    };
  },
});
