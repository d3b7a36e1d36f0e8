/**
 * Node types of the data side of the continual-learning loop: the collector (label
 * join), reservoir and class-balanced rehearsal samplers, and the mixer that builds
 * training sets. Each snapshot says exactly which messages it holds
 * (see dataset.ts). A message on a node's `snapshot` input (e.g. a trigger event)
 * makes it emit its current snapshot on its `snapshot` output.
 */
import { z } from "zod";
import { defineNode, port, type Message, type NodeContext } from "../../sdk";
import { Ring } from "../../sdk/ring";
import { parsePath, readPath, valuePathSchema } from "../drift/value-path";
import { ClassTracker, classCounts, seqRange, type DatasetSnapshot, type Label, type Sample } from "./dataset";
import { LabelJoin } from "./label-join";
import { PendingJournal } from "./pending-journal";
import { mixTrainingSet } from "./mix";
import { RehearsalBuffer } from "./rehearsal";
import { Reservoir } from "./reservoir";

const datasetPort = () => port.record("dataset");
const includeItems = z.boolean().default(true).describe("Put the samples themselves in snapshots (off: ids, counts and ranges only)");
const seed = z.number().int().min(0).default(0).describe("Seed of the random draws: the same stream and seed give the same snapshot");

function snapshot(ctx: NodeContext, sampler: string, items: Sample[], tracker: ClassTracker, withItems: boolean, extra: Partial<DatasetSnapshot> = {}): DatasetSnapshot {
  const range = seqRange(items);
  return {
    kind: "dataset",
    source: { pipeline: ctx.pipeline, node: ctx.nodeId, sampler },
    createdAt: Date.now(),
    classes: classCounts(items),
    newClasses: tracker.newSince(items),
    size: items.length,
    ...(range ? { range } : {}),
    streams: [...new Set(items.flatMap((s) => (s.from ? [s.from] : [])))],
    messages: items.map((s) => s.id),
    ...(withItems ? { items } : {}),
    ...extra,
  };
}

/** A labelled message as a sample: the collector's output, or any `{x, y}` payload. */
function sampleOf(message: Message): Sample {
  const p = message.payload as { x: unknown; y: Label; messageId?: string; seq?: number; from?: string };
  if (typeof p !== "object" || p === null || !("x" in p) || (typeof p.y !== "number" && typeof p.y !== "string"))
    throw new Error("expected a labelled sample {x, y} with a number or string label");
  return {
    id: p.messageId ?? message.id,
    ...(p.seq !== undefined ? { seq: p.seq } : {}),
    x: p.x,
    y: p.y,
    from: p.from ?? `${message.source.node}.${message.source.port}`,
  };
}

function isLabel(v: unknown): v is Label {
  return typeof v === "number" || typeof v === "string";
}

export const collectorNode = defineNode({
  type: "sampler.collector",
  category: "sampler",
  title: "Collector",
  description:
    "Keeps served requests (and predictions) and joins the labels that arrive later on `label`, by request id within a window; emits each joined sample on `out` and serves dataset snapshots (message ids, sequence range, counts per class, new classes, join counters). The waiting requests are kept in the node's data folder, so a label that comes after a restart still joins.",
  inputs: { in: port.any(), label: port.any(), snapshot: port.any() },
  outputs: { out: port.labelled(), snapshot: datasetPort() },
  config: z.object({
    requestId: valuePathSchema.default("traceId").describe("Path to the request id in a served message (the trace id by default)"),
    x: valuePathSchema.default("payload").describe("Path to what is stored as the sample's input"),
    prediction: valuePathSchema.optional().describe("Path to the prediction in a served message, kept beside the sample"),
    labelRequestId: valuePathSchema.default("payload.requestId").describe("Path to the request id in a label message"),
    label: valuePathSchema.default("payload.label").describe("Path to the label (number or string) in a label message"),
    windowMs: z.number().int().min(1).max(2_147_483_647).default(600_000).describe("How long a request waits for its label (and an early label for its request) (at most 2,147,483,647: setTimeout's limit, about 24.8 days)"),
    maxPending: z.number().int().min(1).max(10_000_000).default(100_000).describe("Requests waiting at most; the oldest expire beyond it (at most 10,000,000)"),
    capacity: z.number().int().min(1).max(10_000_000).default(10_000).describe("Joined samples kept for snapshots (the oldest are dropped) (at most 10,000,000)"),
    durable: z.boolean().default(true).describe("Keep the waiting requests in the node's data folder, so labels arriving after a restart still join (off: in memory only)"),
    includeItems,
  }),
  create: async (ctx, c) => {
    const paths = {
      requestId: parsePath(c.requestId)!,
      x: parsePath(c.x)!,
      prediction: c.prediction ? parsePath(c.prediction)! : undefined,
      labelRequestId: parsePath(c.labelRequestId)!,
      label: parsePath(c.label)!,
    };
    const opened = c.durable ? await PendingJournal.open<Message>(ctx.dataDir) : undefined;
    const journal = opened?.journal;
    const join = new LabelJoin<Message>({ windowMs: c.windowMs, maxPending: c.maxPending, onDrop: (id) => journal?.done(id) });
    for (const entry of opened?.entries ?? []) join.restore(entry);
    // A ring, so keeping the last `capacity` samples costs nothing per message.
    const samples = new Ring<Sample>(c.capacity);
    const tracker = new ClassTracker();
    let seq = 0;
    const idOf = (message: Message, path: string[], name: string) => {
      const id = readPath(message, path);
      if (typeof id !== "string" && typeof id !== "number") throw new Error(`${name} is missing in this message`);
      return String(id);
    };
    return {
      async onMessage(portName, message, emit) {
        if (portName === "snapshot") {
          join.expire(message.ts);
          const held = samples.toArray();
          const stats = { ...join.counters, waiting: join.waiting, dropped: samples.total - held.length };
          await emit("snapshot", snapshot(ctx, "collector", held, tracker, c.includeItems, { stats }));
          return;
        }
        let result;
        if (portName === "in") {
          const id = idOf(message, paths.requestId, c.requestId);
          result = join.request(id, message, message.ts);
          if (result.kind === "held") journal?.add({ op: "request", id, at: message.ts, request: message });
        } else {
          const label = readPath(message, paths.label);
          if (!isLabel(label)) throw new Error(`${c.label} is not a number or string label in this message`);
          const id = idOf(message, paths.labelRequestId, c.labelRequestId);
          result = join.label(id, label, message.ts);
          if (result.kind === "held") journal?.add({ op: "label", id, at: message.ts, label });
        }
        if (result.kind !== "joined") return;
        journal?.done(result.requestId);
        const served = result.request;
        const from = `${served.source.node}.${served.source.port}`;
        const sample: Sample = { id: served.id, seq: seq++, x: readPath(served, paths.x), y: result.label, from };
        samples.push(sample);
        const prediction = paths.prediction ? readPath(served, paths.prediction) : undefined;
        await emit(
          "out",
          { x: sample.x, y: sample.y, ...(prediction !== undefined ? { prediction } : {}), requestId: result.requestId, messageId: served.id, seq: sample.seq, from },
          { parents: portName === "in" ? [message] : [served, message] },
        );
      },
      status: () => {
        const held = samples.toArray();
        return { samples: held.length, classes: classCounts(held), ...join.counters, waiting: join.waiting, dropped: samples.total - held.length, ...(opened ? { restored: opened.entries.length } : {}) };
      },
      stop: () => journal?.close(),
    };
  },
});

export const reservoirNode = defineNode({
  type: "sampler.reservoir",
  category: "sampler",
  title: "Reservoir sampler",
  description: "Keeps a uniform random sample of `size` labelled samples from the stream (reservoir sampling, seeded); a message on `snapshot` emits it.",
  inputs: { in: port.labelled(), snapshot: port.any() },
  outputs: { snapshot: datasetPort() },
  config: z.object({ size: z.number().int().min(1).max(10_000_000).default(200).describe("Samples kept (at most 10,000,000)"), seed, includeItems }),
  create: (ctx, c) => {
    const reservoir = new Reservoir<Sample>(c.size, c.seed);
    const tracker = new ClassTracker();
    return {
      async onMessage(portName, message, emit) {
        if (portName === "in") reservoir.add(sampleOf(message));
        else await emit("snapshot", snapshot(ctx, "reservoir", [...reservoir.items], tracker, c.includeItems, { source: { pipeline: ctx.pipeline, node: ctx.nodeId, sampler: "reservoir", seed: c.seed }, stats: { seen: reservoir.seen } }));
      },
      status: () => ({ size: reservoir.items.length, seen: reservoir.seen, classes: classCounts(reservoir.items) }),
    };
  },
});

export const rehearsalNode = defineNode({
  type: "sampler.rehearsal",
  category: "sampler",
  title: "Rehearsal buffer",
  description: "Class-balanced replay memory of `memorySize` samples (like Avalanche's ClassBalancedBuffer): equal room per class seen, reservoir sampling within each class, seeded; a message on `snapshot` emits it.",
  inputs: { in: port.labelled(), snapshot: port.any() },
  outputs: { snapshot: datasetPort() },
  config: z.object({ memorySize: z.number().int().min(1).max(10_000_000).default(200).describe("Samples the memory holds over all classes (at most 10,000,000)"), seed, includeItems }),
  create: (ctx, c) => {
    const buffer = new RehearsalBuffer(c.memorySize, c.seed);
    const tracker = new ClassTracker();
    return {
      async onMessage(portName, message, emit) {
        if (portName === "in") buffer.add(sampleOf(message));
        else
          await emit(
            "snapshot",
            snapshot(ctx, "rehearsal", buffer.items, tracker, c.includeItems, {
              source: { pipeline: ctx.pipeline, node: ctx.nodeId, sampler: "rehearsal", seed: c.seed },
              stats: { quota: buffer.quota(), seen: buffer.seenPerClass() },
            }),
          );
      },
      status: () => ({ size: buffer.items.length, memorySize: c.memorySize, classes: classCounts(buffer.items), quota: buffer.quota() }),
    };
  },
});

export const mixerNode = defineNode({
  type: "sampler.mixer",
  category: "sampler",
  title: "Training-set mixer",
  description:
    "Gathers new labelled samples on `new`; each time a rehearsal snapshot (with items) arrives on `memory`, builds a training set of `size` samples with a share `ratio` of new data and the rest from memory, shuffled and seeded, and emits it on `dataset`. Then it passes the new samples on `consumed` (wire it to the rehearsal buffer, so memory learns them after this training, as in Avalanche) and starts gathering afresh.",
  inputs: { new: port.labelled(), memory: datasetPort() },
  outputs: { dataset: datasetPort(), consumed: port.labelled() },
  acceptsSync: false,
  config: z.object({
    size: z.number().int().min(1).max(10_000_000).default(1000).describe("Samples in each training set (at most 10,000,000)"),
    ratio: z.number().min(0).max(1).default(0.5).describe("Share of the set taken from new data (the rest from rehearsal memory)"),
    maxNew: z.number().int().min(1).max(10_000_000).default(100_000).describe("New samples held between builds (the oldest are dropped) (at most 10,000,000)"),
    seed,
    includeItems,
  }),
  create: (ctx, c) => {
    let fresh = new Ring<Sample>(c.maxNew);
    let builds = 0;
    const tracker = new ClassTracker();
    return {
      async onMessage(portName, message, emit) {
        if (portName === "new") {
          fresh.push(sampleOf(message));
          return;
        }
        const memory = message.payload as DatasetSnapshot;
        if (!Array.isArray(memory.items)) throw new Error("the memory snapshot has no items: set includeItems on the rehearsal buffer");
        const buildSeed = c.seed + builds++;
        const consumed = fresh.toArray();
        fresh = new Ring<Sample>(c.maxNew);
        const mixed = mixTrainingSet(consumed, memory.items, { size: c.size, ratio: c.ratio, seed: buildSeed });
        await emit(
          "dataset",
          snapshot(ctx, "mixer", mixed.items, tracker, c.includeItems, {
            source: { pipeline: ctx.pipeline, node: ctx.nodeId, sampler: "mixer", seed: buildSeed },
            stats: { fromNew: mixed.fromNew, fromMemory: mixed.fromMemory, ratio: c.ratio, memorySnapshot: message.id },
          }),
        );
        for (const sample of consumed)
          await emit("consumed", { x: sample.x, y: sample.y, messageId: sample.id, ...(sample.seq !== undefined ? { seq: sample.seq } : {}), from: sample.from });
      },
      status: () => ({ newWaiting: Math.min(fresh.total, c.maxNew), builds }),
    };
  },
});

export const samplerNodeList = [collectorNode, reservoirNode, rehearsalNode, mixerNode];
