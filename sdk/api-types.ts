/**
 * The shapes the runtime's HTTP API answers with, declared once here: the runtime builds
 * them (runtime/validate.ts, sdk/registry.ts, nodes/continual-learning/gate.ts and history.ts
 * import these) and the editor, or any other client, reads them without importing runtime
 * internals. Types only: nothing here runs.
 */
import type { Message, TraceNode } from "./envelope";
import type { CostPer1000 } from "./cost";

/** A pipeline problem: `POST /api/validate`, a refused deploy. */
export interface Problem {
  /** JSON path in the pipeline file, e.g. `$.nodes[2].config.window`. */
  path: string;
  message: string;
}

/** One message of a trace, with the messages it was made from (`GET /api/traces/:id`): sdk/envelope.ts. */
export type { TraceNode };

export interface Trace {
  traceId: string;
  pipeline: string;
  messages: Message[];
  outputs: TraceNode[];
}

/** Registry statuses: `candidate` registered, `champion` serving, `rejected` failed a gate, `retired` replaced. */
export type ModelStatus = "candidate" | "champion" | "rejected" | "retired";

export interface StatusChange {
  status: ModelStatus;
  at: string;
  reason?: string;
}

/** The data a version was trained on: sequence ranges of a stream (inclusive), or a snapshot. */
export type TrainingDataRef = { stream: string; ranges: { from: number; to: number }[] } | { snapshot: string };

export interface Lineage {
  /** The version this one was trained from (warm start), if any. */
  baseVersion?: number;
  data?: TrainingDataRef;
  /** The trainer's configuration, as it ran. */
  trainer?: Record<string, unknown>;
}

/**
 * What an artifact is: an ONNX file; an sklearn model as a joblib/pickle file; a Python model as a
 * tar archive of a folder with model.py (a class with load() and predict(), as MLServer's custom
 * runtime). The last two run code when loaded, so they need `exec` (sdk/registry.ts). `online-json`: an
 * online learner's state as JSON (nodes/model/online/learner.ts), served by the model.online node, not by agents.
 */
export type ModelFormat = "onnx" | "sklearn" | "python" | "online-json";

export interface ArtifactInfo {
  format: ModelFormat;
  /** Hex SHA-256 of the file's bytes. */
  sha256: string;
  size: number;
}

/** Results of one batch size (see `onnx/profile.ts`). */
export interface BatchProfile {
  batchSize: number;
  /** Timed batches (warm-up excluded). */
  batches: number;
  /** Examples per second: batchSize × batches / elapsed. */
  throughput: number;
  /** Per-batch latency in milliseconds. */
  latencyMs: { mean: number; p50: number; p95: number; p99: number; max: number };
  /** Resident set size of the process, bytes: growth over the run and peak seen. */
  memory: { rssDeltaBytes: number; peakRssBytes: number };
  /** CPU time of the process over the timed batches (all threads), and that per second of wall time (2 = two cores busy). */
  cpu: { seconds: number; utilisation: number };
}

export interface ModelProfile {
  runtime: string;
  executionProvider: string;
  /** Warm-up batches run and discarded before timing, per batch size. */
  warmupBatches: number;
  /** Target timed duration per batch size, seconds. */
  durationSeconds: number;
  /** Memory of the process after loading the session, bytes over the RSS before it. */
  loadRssDeltaBytes: number;
  loadMs: number;
  results: BatchProfile[];
  host: { platform: string; arch: string; cpus: number; cpuModel: string; node: string };
  /** Who measured it when not `evoflow profile` or the gate: an agent's idle profiler. */
  measuredBy?: string;
  createdAt: string;
}

/** A model's accuracy overall and per class on one labelled set. */
export interface Evaluation {
  accuracy: number;
  count: number;
  perClass: Record<string, { accuracy: number; count: number }>;
}

export interface GateCheck {
  name: string;
  passed: boolean;
  /** What was measured and what it was held to, in words a reviewer can read. */
  detail: string;
  value?: number;
  threshold?: number;
}

/** What a validator gate decided about a candidate, check by check. */
export interface GateReport {
  passed: boolean;
  reasons: string[];
  checks: GateCheck[];
  /** `cost`: CPU, energy and price per 1,000 single-example inferences, measured by the gate. */
  candidate: { holdout?: Evaluation; golden?: Evaluation; latencyMs?: { p50: number; p99: number }; sizeBytes: number; profile?: ModelProfile; cost?: CostPer1000 };
  champion?: { version?: number; holdout?: Evaluation; golden?: Evaluation; cost?: CostPer1000 };
  createdAt: string;
}

/** Accuracy after each update step (rows) on each experience (columns); null: not seen yet. */
export type AccuracyMatrix = (number | null)[][];

/** Where a training snapshot's examples came from. */
export interface SnapshotSource {
  /** A stream (pipeline edge or collector) and the message ids or sequence ranges it held. */
  stream?: string;
  ranges?: { from: number; to: number }[];
  messageIds?: string[];
  /** Free-form: which sampler built it, its seed, the replay share… */
  [key: string]: unknown;
}

/** `pending`: a rollout is running; a rolled-back rollout ends `rejected`, with its `reason`; `routed`: a bandit router's traffic shares (`bandit`). */
export type Decision = "promoted" | "rejected" | "failed" | "pending" | "routed";

/** One update attempt of a CL service, accepted or rejected (`GET /api/services/:name/history`). */
export interface HistoryEntry {
  id: string;
  service: string;
  model: string;
  /** The candidate's registry version (absent when training failed before registering). */
  version?: number;
  baseVersion?: number;
  at: string;
  trigger: { kind: string; reason?: string; [key: string]: unknown };
  scenario?: string;
  strategy: { trainer: string; mode?: string; replay?: unknown; ewc?: unknown; lwf?: unknown; [key: string]: unknown };
  snapshot?: { id: string; count: number; classes: Record<string, number>; source: SnapshotSource };
  trainingMs?: number;
  samplesSeen?: number;
  sizeBytes?: number;
  /** Avalanche metrics: rows are update steps, columns experiences (one per update). */
  metrics?: { accuracyMatrix: AccuracyMatrix; averageAccuracy: number; bwt: number; forgetting: number; holdoutAccuracy?: number };
  validation?: GateReport;
  decision: Decision;
  /** Why a candidate that passed validation was still rejected (its rollout rolled back). */
  reason?: string;
  /** The shadow or canary rollout or A/B test (nodes/continual-learning/rollout.ts LiveStatus): steps or the sequential test's statistics, requests answered by each version. */
  rollout?: unknown;
  /** A model.bandit record (nodes/continual-learning/bandit.ts BanditStatus): each version's pulls, rewards, posterior and traffic share. */
  bandit?: unknown;
  error?: string;
}

/** How an A/B test (rollout mode "ab", nodes/continual-learning/ab-test.ts) ended. */
export type AbOutcome = "better" | "worse" | "inconclusive" | "errors" | "aborted";

export interface AbArmStatus {
  version: number;
  requests: number;
  errors: number;
  scored: number;
  mean?: number;
  variance?: number;
}

/** The test's statistics as of its last look: what the history and the model card show. */
export interface AbTestStatus {
  key: string;
  share: number;
  metric: string;
  alpha: number;
  tau: number;
  minSamples: number;
  maxSamples: number;
  champion: AbArmStatus;
  candidate: AbArmStatus;
  /** Requests without a key: the champion answered them, uncounted. */
  unkeyed: number;
  /** The last look with both versions at minSamples; `pValue` is the always-valid running minimum. */
  sequential?: { difference: number; variance: number; likelihoodRatio: number; pValue: number; interval: [number, number] };
  outcome?: AbOutcome;
}

/** The A/B test as the history and the API keep it (the same outer shape as a rollout's status). */
export interface AbTestRolloutStatus {
  model: string;
  candidate: number;
  champion: number;
  mode: "ab";
  state: "running" | "promoted" | "rolled-back";
  startedAt: string;
  answered: Record<string, number>;
  reason?: string;
  abTest: AbTestStatus;
}

export interface BanditArm {
  version: number;
  /** Requests routed to it. */
  pulls: number;
  /** Rewards received: their sum, their count. */
  reward: number;
  rewarded: number;
  /** Posterior mean (1 + successes) / (2 + trials). */
  posteriorMean: number;
  /** Share of requests it was routed over the last window (the share the policy gives it now). */
  recentShare: number;
}

export interface BanditStatus {
  policy: "thompson";
  arms: BanditArm[];
  /** Requests routed and rewards received so far. */
  pulls: number;
  rewards: number;
  /** The version with the highest posterior mean. */
  leader: number;
  at: string;
}

/** `GET /api/services/:name/history`: entries oldest first, each with its rollout in a few words. */
export interface ServiceHistory {
  service: string;
  entries: (HistoryEntry & { rolloutSummary: string })[];
}

/** A registry version joined with its history entry (`GET /api/models/:name/:version/card`). */
export interface ModelCard {
  model: string;
  version: number;
  status?: string;
  statusHistory?: StatusChange[];
  createdAt?: string;
  artifact?: ArtifactInfo;
  signature?: { inputs: unknown; outputs: unknown };
  lineage?: Lineage;
  /** From the CL history: why and how it was trained, what it scored, what was decided. */
  service?: string;
  trigger?: HistoryEntry["trigger"];
  scenario?: string;
  strategy?: HistoryEntry["strategy"];
  data?: HistoryEntry["snapshot"];
  training?: { ms?: number; samplesSeen?: number };
  sizeBytes?: number;
  metrics?: HistoryEntry["metrics"] & Record<string, unknown>;
  validation?: unknown;
  /** Throughput and latency per batch size, from the registry (the gate profiles every candidate). */
  profile?: ModelProfile;
  /** CPU, energy and price per 1,000 inferences as the gate measured them, beside the champion's it was judged against. */
  cost?: { candidate: CostPer1000; champion?: CostPer1000 & { version?: number } };
  decision?: Decision;
  rollout?: unknown;
  /** The latest bandit record that routed traffic to this version. */
  bandit?: unknown;
}

/** An edge's live figures in `GET /api/pipelines/:name/status` (runtime/engine/engine.ts builds them). */
export interface EdgeStatus {
  mode: string;
  /** Messages waiting on the edge (async edges; 0 on sync edges, which do not queue). */
  depth: number;
  /** What `depth` fills towards (`queue.capacity` in memory); absent where the queue does not bound it (NATS: the stream's retention). */
  capacity?: number;
  /** Messages dropped by a `drop-oldest` overflow policy. */
  dropped: number;
  /** Messages seen on the edge so far. */
  tapped: number;
}

/**
 * What an explainer found (nodes/explain/): the payload of an `explain.*` node's output and of
 * `POST /api/traces/:traceId/explain`, kept in the trace as a message whose parent is the
 * model input it explains.
 */
export interface Explanation {
  method: "kernel-shap" | "occlusion";
  model: { name: string; version: number };
  input: string;
  output: string;
  /** The output index explained (a class). */
  target: number;
  /** The model's score for `target` on the explained input. */
  score: number;
  /** Kernel SHAP: one value per input element (the input's shape), summing to `score − baseValue`. Occlusion: [height, width], the mean drop of the target score when a patch covers each pixel. */
  attributions: { dtype: "float32"; shape: number[]; data: Float32Array | number[] };
  /** Kernel SHAP: the mean score over the background. */
  baseValue?: number;
  /** Kernel SHAP: every coalition was valued (Shapley values exactly), or a kernel-weighted sample. */
  exact?: boolean;
  coalitions?: number;
  /** Kernel SHAP: background rows used. */
  background?: number;
  /** Occlusion: the patch, and the positions whose cover dropped the score most. */
  patch?: { size: number; stride: number; fill: number | "mean" };
  topPatches?: { y: number; x: number; drop: number }[];
  /** Rows the model scored for this explanation. */
  evaluations: number;
  ms: number;
  /** The model output message explained, when known (on demand, from a trace). */
  explains?: string;
}

/** A drift alarm as `GET /api/alarms` lists it: the message a node emitted on an `event<drift>` port (runtime/alarm-windows.ts). */
export interface AlarmSummary {
  /** The alarm message's id: what `evoflow rca <id>` takes. */
  id: string;
  pipeline: string;
  /** The drift node that fired. */
  node: string;
  traceId: string;
  ts: number;
  /** The event's `reason` and `detector`, when it has them (nodes/drift/event.ts). */
  reason?: string;
  detector?: string;
  /** The upstream edges whose recent messages were kept with it. */
  edges: string[];
}

/** One upstream edge's recent messages as they were when the alarm fired, oldest first. */
export interface RecordedEdge {
  id: string;
  from: { node: string; port: string };
  to: { node: string; port: string };
  messages: Message[];
  /** Messages the edge carried before those, no longer kept. */
  older: number;
  /** What the edge carried after the alarm, oldest first: collected as it comes, up to `settings.rca.after`. */
  later: Message[];
}

/** A drift alarm with the windows of every edge upstream of its node. */
export interface DriftAlarm extends AlarmSummary {
  /** The alarm's payload (a DriftEvent from Evoflow's drift nodes). */
  event: unknown;
  edges: string[];
  recorded: RecordedEdge[];
}

/** One test of `GET /api/alarms/:id/rca`: one feature (or, for MMD, all numeric features) of one upstream edge. */
export interface RcaTest {
  edge: string;
  from: string;
  to: string;
  /** 0 for edges leaving a node with no upstream edge (a source), then one more per node on the way. */
  stage: number;
  /** A path into the message (`payload.x[1]`), or `*` for a joint MMD test of the edge. */
  feature: string;
  test: "ks" | "chi-square" | "mmd";
  statistic: number;
  pValue: number;
  /** Under the corrected threshold. */
  significant: boolean;
  before: number;
  after: number;
}

/** Where the shift that fired a drift alarm entered the pipeline (nodes/drift/rca.ts). */
export interface RcaReport {
  alarm: AlarmSummary;
  alpha: number;
  correction: "bonferroni" | "fdr";
  /** The p-value under which a test counts, after the correction over all tests. */
  threshold: number;
  /** Significant tests first, earliest stage first, then by p-value; the rest by p-value. */
  ranking: RcaTest[];
  /** The first of the ranking when it is significant: the earliest edge and feature that shifted. */
  entry?: RcaTest;
  /** Features not tested, and why (a counter or a time, too few values, one value only). */
  skipped: { edge: string; feature: string; reason: string }[];
}

/** One prediction's likely class, as active learning's label queue shows it. */
export interface LabelGuess {
  /** The class index: the label sent on when this guess is chosen. */
  label: number;
  name?: string;
  p: number;
}

export type LabelItemState = "queued" | "leased" | "labelled";

/** An item of a label queue (nodes/sampler/label-queue.ts; `/api/label-queues/...`). */
export interface LabelItem {
  id: string;
  requestId: string;
  enqueuedAt: number;
  /** What the labeler sees: a tensor ({dtype, shape, data}) or a record. */
  input: unknown;
  guesses: LabelGuess[];
  /** How informative the sampler judged it, in [0, 1], and by which measure. */
  score: number;
  strategy: string;
  source: { pipeline: string; node: string };
  lease?: { labeler: string; until: number };
  skips: { labeler: string; at: number }[];
  label?: { value: number | string; labeler: string; at: number };
  /** The label has been sent on to the collector. */
  delivered?: boolean;
  /** In list answers. */
  state?: LabelItemState;
}

/** `GET /api/label-queues/:queue`. */
export interface LabelQueueInfo {
  name: string;
  /** Class names, index = label value. */
  classes?: string[];
  leaseMs: number;
  counts: Record<LabelItemState, number>;
}
