/**
 * Pipeline format v1: the one zod schema. `evoflow schema` prints it as JSON Schema
 * so IDEs validate pipeline files too. Node configs are checked by each node
 * type's own schema in validate.ts, not here.
 */
import semver from "semver";
import { z } from "zod";

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** Names become folder names (<data>/<pipeline>/<node>) and NATS subjects: 128 keeps both well inside their limits (255 bytes a path component). */
export const MAX_NAME_LENGTH = 128;
const name = (what: string) =>
  z
    .string()
    .max(MAX_NAME_LENGTH, `${what} must be at most ${MAX_NAME_LENGTH} characters`)
    .regex(NAME, `${what} must start with a letter and hold only letters, digits, "_" and "-"`);
/**
 * Upper bounds of every number that sizes memory (or a timer), so an absurd value is a
 * validation error with its JSON path rather than a 500 at deploy (a queue of 2.2e14
 * slots, a tap ring of 4e9). Each is far beyond what a real ML pipeline needs.
 */
export const MAX_QUEUE_CAPACITY = 1_000_000;
export const MAX_CONCURRENCY = 1_000;
export const MAX_TAP_CAPACITY = 100_000;
export const MAX_TRACE_CAPACITY = 1_000_000;
export const MAX_DEAD_LETTER_CAPACITY = 100_000;
/** Bytes of binary data a tap ring or a trace store may keep: 1 GiB. */
export const MAX_RING_BYTES = 1024 * 1024 * 1024;
/** Sync requests a pipeline handles at once; beyond its `maxInFlight` new ones are refused (HTTP 429/503). */
const MAX_RETENTION_SECONDS = 10 * 365 * 24 * 3600;
const MAX_RETENTION_BYTES = 2 ** 50;
export const MAX_IN_FLIGHT = 100_000;
export const DEFAULT_MAX_IN_FLIGHT = 256;

export const endpointPattern = /^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_-]*)$/;

export const queueSchema = z
  .object({
    capacity: z.number().int().min(1).max(MAX_QUEUE_CAPACITY).default(1024).describe(`Messages the edge holds before its overflow policy applies (at most ${MAX_QUEUE_CAPACITY.toLocaleString("en")}: the queue's slots are allocated up front)`),
    overflow: z
      .enum(["block", "drop-oldest"])
      .default("block")
      .describe("block: the producer waits for room (back-pressure); drop-oldest: the oldest queued message is dropped and counted"),
    concurrency: z.number().int().min(1).max(MAX_CONCURRENCY).default(1).describe(`Messages the consumer handles at once (at most ${MAX_CONCURRENCY.toLocaleString("en")})`),
  })
  .strict();

/** Worker processes `evoflow supervise` may run for one node. */
export const MAX_REPLICAS = 100;

/**
 * Autoscaling of a node on the nats transport (`evoflow supervise`): worker processes between
 * the bounds, from the lag of its async inputs (messages pending plus delivered-unacknowledged
 * on their durable consumers), as KEDA's JetStream scaler: `ceil(lag / targetLag)` replicas.
 */
export const scaleSchema = z
  .object({
    minReplicas: z.number().int().min(0).max(MAX_REPLICAS).default(1).describe(`Worker processes kept running when there is no lag (0: none until messages wait; at most ${MAX_REPLICAS})`),
    maxReplicas: z.number().int().min(1).max(MAX_REPLICAS).describe(`Worker processes at most, however long the lag (at most ${MAX_REPLICAS})`),
    targetLag: z
      .number()
      .int()
      .min(1)
      .max(MAX_QUEUE_CAPACITY)
      .default(100)
      .describe("Messages waiting on the node's async inputs per replica that the supervisor aims at: replicas = ceil(lag / targetLag) within the bounds. Each replica pulls up to max(16, queue.capacity) messages ahead, so keep the inputs' capacity low for a slow node"),
    cooldownSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .describe("Seconds after a scaling event before replicas are taken away (scaling up waits for nothing; at most a day)"),
  })
  .strict()
  .refine((s) => s.maxReplicas >= s.minReplicas, { message: "maxReplicas must be at least minReplicas", path: ["maxReplicas"] });

export const nodeSchema = z
  .object({
    id: name("node id"),
    type: z.string().min(1).max(200),
    title: z.string().optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    position: z.object({ x: z.number(), y: z.number() }).strict().optional(),
    placement: z.string().optional().describe("Worker group that runs this node on the nats transport"),
    scale: scaleSchema
      .optional()
      .describe("Autoscaling on the nats transport: `evoflow supervise` runs this node's worker processes from the lag of its async inputs. Needs a placement (so the coordinator leaves it to workers) and an async input"),
  })
  .strict();

export const edgeSchema = z
  .object({
    id: name("edge id").optional().describe("Defaults to <from>-<to> with dots as underscores"),
    from: z.string().regex(endpointPattern, 'must be "node.port"'),
    to: z.string().regex(endpointPattern, 'must be "node.port"'),
    mode: z.enum(["sync", "async"]).default("sync"),
    queue: queueSchema.optional().describe("Async edges only"),
  })
  .strict();

/** npm's rule for package names (lower case, an optional @scope/), at most 214 characters. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
/** Packages one pipeline may require: far more than any pipeline uses, few enough to check at once. */
export const MAX_REQUIRES = 256;

export const requiresSchema = z
  .record(
    z.string().max(214).regex(PACKAGE_NAME, "must be an npm package name"),
    z
      .string()
      .max(256)
      .refine((range) => semver.validRange(range) !== null, { message: 'must be an npm version range, e.g. "^1.2.0"' }),
    { error: (issue) => (issue.code === "invalid_key" ? "must be an npm package name (lower case, an optional @scope/)" : undefined) },
  )
  .refine((r) => Object.keys(r).length <= MAX_REQUIRES, { message: `at most ${MAX_REQUIRES} packages` })
  .describe('The node packages the pipeline uses, each with the versions it works with: { "evoflow-nodes-acme": "^1.0.0" }. `evoflow fmt` fills it from the node types used; validate and deploy refuse a pipeline whose packages are missing or of another version, naming the install command');

export const pipelineSchema = z
  .object({
    $schema: z.string().optional(),
    apiVersion: z.literal("evoflow/v1"),
    name: name("pipeline name"),
    description: z.string().optional(),
    requires: requiresSchema.optional(),
    nodes: z.array(nodeSchema),
    edges: z.array(edgeSchema).default([]),
    settings: z
      .object({
        tapCapacity: z.number().int().min(0).max(MAX_TAP_CAPACITY).default(256).describe(`Recent messages each edge keeps for taps (at most ${MAX_TAP_CAPACITY.toLocaleString("en")})`),
        tapBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .max(MAX_RING_BYTES)
          .optional()
          .describe("Binary data (tensors, images) those messages may hold, per edge (4 MiB unless set, at most 1 GiB): the oldest go first when either limit is reached, the newest always stays"),
        traceCapacity: z
          .number()
          .int()
          .min(0)
          .max(MAX_TRACE_CAPACITY)
          .optional()
          .describe("Recent messages the pipeline keeps for `evoflow trace` in memory (10,000 unless the runtime says otherwise, at most 1,000,000); 0 turns provenance capture off"),
        traceBytes: z
          .number()
          .int()
          .min(1024 * 1024)
          .max(MAX_RING_BYTES)
          .optional()
          .describe("Memory for those of them that carry binary data (tensors, images), written aside as emitted (4 MiB unless set, at most 1 GiB): the oldest go first when either limit is reached"),
        rca: z
          .object({
            capacity: z
              .number()
              .int()
              .min(0)
              .max(MAX_TAP_CAPACITY)
              .default(2048)
              .describe(`Recent messages kept on each edge upstream of a drift node, so a drift alarm has the data before it (at most ${MAX_TAP_CAPACITY.toLocaleString("en")}); 0 keeps none`),
            bytes: z
              .number()
              .int()
              .min(64 * 1024)
              .max(MAX_RING_BYTES)
              .default(8 * 1024 * 1024)
              .describe("Binary data (tensors, images) those messages may hold, per edge (8 MiB unless set, at most 1 GiB): the oldest go first when either limit is reached"),
            after: z
              .number()
              .int()
              .min(0)
              .max(MAX_TAP_CAPACITY)
              .default(500)
              .describe("Messages of each of those edges a kept alarm also collects after it fired (within `bytes`), the shifted data of a streaming detector's alarm (at most 100,000)"),
            alarms: z.number().int().min(0).max(1000).default(8).describe("Drift alarms kept with a copy of those windows for `evoflow rca` (at most 1,000)"),
          })
          .strict()
          .optional()
          .describe("Windows for upstream root-cause analysis of drift alarms (`evoflow rca`, nodes/drift/README.md)"),
        deadLetterCapacity: z
          .number()
          .int()
          .min(1)
          .max(MAX_DEAD_LETTER_CAPACITY)
          .default(1000)
          .describe("Dead letters kept in memory (at most 100,000)"),
        maxInFlight: z
          .number()
          .int()
          .min(1)
          .max(MAX_IN_FLIGHT)
          .optional()
          .describe(
            "Sync requests (POST /pipelines/<name>, /v2 infer) the pipeline handles at once (256 unless set, at most 100,000); beyond it new ones are refused at once with 429 (503 on /v2) and Retry-After, counted in evoflow_requests_shed_total",
          ),
        capture: z
          .object({ sync: z.enum(["off", "sampled", "full"]).default("full"), sampleRate: z.number().min(0).max(1).default(0.01) })
          .strict()
          .optional()
          .describe("How sync traffic is captured on the nats transport"),
        retention: z
          .object({
            // JetStream takes both as int64 (the age in nanoseconds); the bounds keep them far inside it.
            maxAgeSeconds: z.number().int().min(1).max(MAX_RETENTION_SECONDS).optional().describe("At most 10 years"),
            maxBytes: z.number().int().min(1).max(MAX_RETENTION_BYTES).optional().describe("On the broker's disk; at most 1 PiB"),
          })
          .strict()
          .optional()
          .describe("Retention of the pipeline's JetStream stream"),
        delivery: z
          .object({
            ackWaitSeconds: z
              .number()
              .int()
              .min(1)
              .max(86_400)
              .default(30)
              .describe("Seconds before an unacknowledged async message goes to another replica; a node still working keeps it (at most a day)"),
            maxDeliver: z
              .number()
              .int()
              .min(1)
              .max(1000)
              .optional()
              .describe("Deliveries of an async message whose node fails (or whose process dies) before it goes to the dead-letter stream with the last error; default 5, at most 1,000"),
          })
          .strict()
          .optional()
          .describe("At-least-once delivery of async edges on the nats transport"),
      })
      .strict()
      .optional(),
  })
  .strict();

export type PipelineInput = z.input<typeof pipelineSchema>;
export type Pipeline = z.output<typeof pipelineSchema>;
export type PipelineNode = Pipeline["nodes"][number];
export type PipelineEdge = Pipeline["edges"][number];

export { edgeId } from "../sdk/pipeline";

export function splitEndpoint(endpoint: string): { node: string; port: string } {
  const dot = endpoint.indexOf(".");
  return { node: endpoint.slice(0, dot), port: endpoint.slice(dot + 1) };
}

export function pipelineJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(pipelineSchema, { io: "input" }) as Record<string, unknown>;
}
