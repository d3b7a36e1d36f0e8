/**
 * The NATS transport (nats.ts), first layer: the connection and its KV buckets, the pipeline
 * definitions `run --nats` stores for the workers, attaching a pipeline (its stream, presence
 * heartbeats) and withdrawing definitions. Layers: nats-definitions → nats-async → nats.ts.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Message } from "../envelope";
import type { Pipeline } from "../schema";
import { processFootprint } from "../process-footprint";
import * as names from "./nats-names";
import type { EdgeInfo, PipelineAttachment } from "./transport";
import { HandlingScope, Window, Outbox, PubAcks, type AttachedPipeline, HEARTBEAT_MS, DUPLICATE_WINDOW_NS, maxAckPending } from "./nats-publish";

export interface NatsTransportOptions {
  servers: string | string[];
  /** `coordinator` publishes pipeline definitions to KV for workers; `worker` only reads them. */
  role?: "coordinator" | "worker";
  /** The worker group this process stands for (shown in status). */
  placement?: string;
  /** Replicas of streams and KV buckets (3 on a three-server cluster). */
  replicas?: number;
  /** How long a sync call waits for its reply. */
  syncTimeoutMs?: number;
  /** Largest encoded message; defaults to the server's max_payload. */
  maxMessageBytes?: number;
  log?: (level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

/** Connection, pipeline definitions in KV, attaching pipelines (stream, presence): the base of NatsTransport (nats.ts). */
export abstract class NatsDefinitions {
  readonly kind = "nats";
  readonly processId: string;
  /**
   * The scope of each async message being handled, by the message object handed to the node:
   * the engine names it on each emit (not AsyncLocalStorage, whose promise hooks would tax
   * every promise in the process).
   */
  protected readonly scopes = new WeakMap<Message, HandlingScope>();
  protected readonly pipelines = new Map<string, AttachedPipeline>();
  protected readonly windows = new Map<string, Window>();
  protected readonly maxMessageBytes: number;
  protected readonly startedAt = new Date().toISOString();
  /** Definitions this coordinator stored in KV, with the revision it wrote. */
  protected readonly published = new Map<string, number>();
  protected readonly outbox: Outbox;
  protected readonly pubAcks: PubAcks;
  protected closed = false;

  protected constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    protected readonly pipelinesKv: KV,
    protected readonly processesKv: KV,
    protected readonly attemptsKv: KV,
    protected readonly options: NatsTransportOptions,
  ) {
    this.processId = `${hostname().replace(/[^A-Za-z0-9_-]/g, "_")}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.maxMessageBytes = Math.min(options.maxMessageBytes ?? Infinity, nc.info?.max_payload ?? 1024 * 1024);
    this.outbox = new Outbox(nc);
    this.pubAcks = new PubAcks(nc, this.outbox, 5_000);
  }

  protected log(level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(level, message, fields);
  }

  // ---- pipeline definitions (KV) -------------------------------------------------

  /** The pipeline definitions `run --nats` stored, by name. */
  async definitions(): Promise<Map<string, Pipeline>> {
    const out = new Map<string, Pipeline>();
    for await (const key of await this.pipelinesKv.keys()) {
      const def = await this.definition(key);
      if (def) out.set(key, def);
    }
    return out;
  }

  async definition(name: string): Promise<Pipeline | undefined> {
    const entry = await this.pipelinesKv.get(name);
    return entry && entry.operation === "PUT" ? (entry.json() as Pipeline) : undefined;
  }

  /** The definition running, else the last one stored before its coordinator stopped (for reading its edges back). */
  async lastDefinition(name: string): Promise<Pipeline | undefined> {
    const running = await this.definition(name);
    if (running) return running;
    let last: Pipeline | undefined;
    for await (const e of await this.pipelinesKv.history({ key: name })) if (e.operation === "PUT") last = e.json() as Pipeline;
    return last;
  }

  /** Calls back with each definition change (and the current ones first); returns the stop function. */
  async watchDefinitions(listener: (name: string, pipeline: Pipeline | undefined) => void): Promise<() => void> {
    const watch = await this.pipelinesKv.watch();
    void (async () => {
      for await (const e of watch) listener(e.key, e.operation === "PUT" ? (e.json() as Pipeline) : undefined);
    })();
    return () => watch.stop();
  }

  // ---- attach: stream, consumers, presence --------------------------------------

  async attach({ pipeline, edges, localNodes }: PipelineAttachment): Promise<void> {
    const name = pipeline.name;
    await this.ensureStream(pipeline, edges);
    const attached: AttachedPipeline = {
      pipeline,
      edges,
      localNodes: new Set(localNodes),
      consumers: new Map(),
      subscriptions: [],
      inFlight: 0,
      idleWaiters: [],
      lag: new Map(),
      quiesced: false,
      handBack: [],
    };
    this.pipelines.set(name, attached);
    if ((this.options.role ?? "coordinator") === "coordinator") this.published.set(name, await this.pipelinesKv.put(name, JSON.stringify(pipeline)));
    await this.beat(attached);
    attached.heartbeat = setInterval(() => void this.beat(attached).catch(() => undefined), HEARTBEAT_MS);
    attached.heartbeat.unref();
  }

  protected async ensureStream(pipeline: Pipeline, edges: readonly EdgeInfo[]): Promise<void> {
    const name = pipeline.name;
    const retention = pipeline.settings?.retention;
    const maxAgeNs = retention?.maxAgeSeconds ? retention.maxAgeSeconds * 1e9 : 0;
    const config: Partial<StreamConfig> & { name: string } = {
      name: names.streamName(name),
      subjects: names.streamSubjects(name),
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: maxAgeNs,
      max_bytes: retention?.maxBytes ?? -1,
      num_replicas: this.options.replicas ?? 1,
      duplicate_window: maxAgeNs > 0 ? Math.min(DUPLICATE_WINDOW_NS, maxAgeNs) : DUPLICATE_WINDOW_NS,
    };
    try {
      await this.jsm.streams.add(config);
    } catch (err) {
      // Exists with other settings (retention changed in the JSON): update it in place.
      if (!/already in use/i.test((err as Error).message)) throw err;
      await this.jsm.streams.update(config.name, config);
    }
    const ackWaitSeconds = pipeline.settings?.delivery?.ackWaitSeconds ?? 30;
    for (const edge of edges) {
      if (edge.mode !== "async") continue;
      const consumer: Partial<ConsumerConfig> = {
        durable_name: names.consumerName(edge.id),
        filter_subject: names.edgeFilter(name, edge.id),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ackWaitSeconds * 1e9,
        max_ack_pending: maxAckPending(edge, pipeline),
      };
      try {
        await this.jsm.consumers.add(names.streamName(name), consumer);
      } catch (err) {
        if (!/already (in use|exists)/i.test((err as Error).message)) throw err;
        await this.jsm.consumers.update(names.streamName(name), consumer.durable_name!, consumer);
      }
    }
  }

  protected async beat(attached: AttachedPipeline): Promise<void> {
    const info = {
      id: this.processId,
      host: hostname(),
      pid: process.pid,
      role: this.options.role ?? "coordinator",
      placement: this.options.placement,
      nodes: [...attached.localNodes],
      since: this.startedAt,
      ...processFootprint(),
    };
    await this.processesKv.put(`${attached.pipeline.name}.${this.processId}`, JSON.stringify(info));
    for (const edge of attached.edges) {
      if (edge.mode !== "async") continue;
      const ci = await this.jsm.consumers.info(names.streamName(attached.pipeline.name), names.consumerName(edge.id)).catch(() => undefined);
      if (ci) attached.lag.set(edge.id, ci.num_pending + ci.num_ack_pending);
    }
  }

  /**
   * A coordinator stopping cleanly takes its definitions out of KV, so workers stop their
   * share and status shows no pipeline nobody runs; the streams and their messages stay, and
   * a coordinator started again puts the definition back. Only a definition still at the
   * revision this process wrote is removed: one redeployed since by another coordinator stays.
   * (A coordinator that dies leaves its definitions: the workers go on serving.)
   */
  protected async withdrawDefinitions(): Promise<void> {
    for (const name of [...this.published.keys()]) await this.withdraw(name);
  }

  /** Takes the pipeline's definition out of KV (a DELETE of the pipeline), if it is still the one this process wrote. */
  async withdraw(pipeline: string): Promise<void> {
    const revision = this.published.get(pipeline);
    if (revision === undefined) return;
    this.published.delete(pipeline);
    await this.pipelinesKv.delete(pipeline, { previousSeq: revision }).catch((err: Error) => this.log("debug", `definition ${pipeline} left in KV: ${err.message}`));
  }
}
