/**
 * Where a pipeline lives on NATS. One JetStream stream per pipeline holds its async
 * edges, the captured sync traffic and its dead letters:
 *
 *   evoflow.<pipeline>.edge.<edge>.<traceId>     async edge messages (durable consumer per edge)
 *   evoflow.<pipeline>.capture.<edge>.<traceId>  sync edge traffic, captured per `settings.capture`
 *   evoflow.<pipeline>.capture._explanations.<traceId>  explanations made on demand (sdk EXPLANATIONS_STREAM)
 *   evoflow.<pipeline>.dlq                       dead letters, with the reason
 *   evoflow.<pipeline>.scale                     scaling events of `evoflow supervise` (JSON)
 *
 * The trace id is the last subject token so `evoflow trace` can ask the server for
 * one trace's messages across every edge (`evoflow.<p>.edge.*.<traceId>`) instead of
 * scanning the stream itself. Sync requests go over `evoflow.<pipeline>.sync.<edge>`,
 * which no stream listens on (a stream would answer the request with its PubAck).
 */

/** Stream names may not hold dots; pipeline names never do (see schema.ts). */
export const streamName = (pipeline: string) => `EVOFLOW_${pipeline}`;
/** The pipeline a stream belongs to, undefined for streams that are not a pipeline's (KV buckets, object stores). */
export const pipelineOfStream = (stream: string) => (stream.startsWith("EVOFLOW_") ? stream.slice("EVOFLOW_".length) : undefined);
export const consumerName = (edge: string) => `edge_${edge}`;

/** Subject tokens must not hold dots, spaces or wildcards; trace ids are hex but nodes may set their own. */
export const token = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_") || "_";

export const edgeSubjectPrefix = (pipeline: string, edge: string) => `evoflow.${pipeline}.edge.${edge}.`;
export const edgeSubject = (pipeline: string, edge: string, traceId: string) => edgeSubjectPrefix(pipeline, edge) + token(traceId);
export const edgeFilter = (pipeline: string, edge: string) => `evoflow.${pipeline}.edge.${edge}.*`;
export const captureSubject = (pipeline: string, edge: string, traceId: string) => `evoflow.${pipeline}.capture.${edge}.${token(traceId)}`;
export const captureFilter = (pipeline: string, edge: string) => `evoflow.${pipeline}.capture.${edge}.*`;
/** Async edges and captured sync traffic of one trace (two filters: the server wants each a subset of the stream's subjects). */
export const traceFilters = (pipeline: string, traceId: string) => [`evoflow.${pipeline}.edge.*.${token(traceId)}`, `evoflow.${pipeline}.capture.*.${token(traceId)}`];
export const dlqSubject = (pipeline: string) => `evoflow.${pipeline}.dlq`;
export const scaleSubject = (pipeline: string) => `evoflow.${pipeline}.scale`;
export const syncSubject = (pipeline: string, edge: string) => `evoflow.${pipeline}.sync.${edge}`;
export const streamSubjects = (pipeline: string) => [`evoflow.${pipeline}.edge.>`, `evoflow.${pipeline}.capture.>`, dlqSubject(pipeline), scaleSubject(pipeline)];

/** KV bucket of deployed pipeline definitions (key: pipeline name), written by `run --nats`, read by workers. */
export const PIPELINES_BUCKET = "evoflow_pipelines";
/** KV bucket of live processes (key: `<pipeline>.<process>`), refreshed by each process; entries age out when it dies. */
export const PROCESSES_BUCKET = "evoflow_processes";
/** KV bucket of redelivered messages being run (key: `<pipeline>.<edge>.<stream seq>`): how many deliveries of one died with their process. */
export const ATTEMPTS_BUCKET = "evoflow_attempts";
