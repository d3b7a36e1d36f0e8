/**
 * Refusals on NATS: a worker that will not run its share of a pipeline (a node package it lacks,
 * a capability it does not grant, a file its disk does not have) says why in the KV bucket
 * `evoflow_refusals`, key `<pipeline>.<process>`, so the pipeline's status (GET
 * /api/pipelines/<name>/status, the editor's node panel) shows the reason beside the nodes no
 * process runs, rather than a sync call timing out with "no process serves". Refreshed while the
 * worker lives, as its presence is (nats.ts `beat`): an entry ages out when its worker dies, and
 * the worker takes it back when it runs the pipeline after all or the pipeline is removed.
 */
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Refusal } from "./transport";

export const REFUSALS_BUCKET = "evoflow_refusals";
const REFRESH_MS = 5_000;


function openBucket(nc: NatsConnection, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(REFUSALS_BUCKET, { history: 1, replicas, ttl: REFRESH_MS * 3 });
}

/** The refusals a worker keeps posted while it lives. */
export class WorkerRefusals {
  private readonly refreshing = new Map<string, NodeJS.Timeout>();

  private constructor(private readonly kv: KV, private readonly processId: string) {}

  static async open(nc: NatsConnection, processId: string, replicas?: number): Promise<WorkerRefusals> {
    return new WorkerRefusals(await openBucket(nc, replicas), processId);
  }

  async refuse(pipeline: string, nodes: Iterable<string>, problems: Refusal["problems"]): Promise<void> {
    this.stopRefreshing(pipeline);
    const refusal: Refusal = { process: this.processId, pipeline, nodes: [...nodes], problems, since: new Date().toISOString() };
    const post = () => this.kv.put(`${pipeline}.${this.processId}`, JSON.stringify(refusal));
    await post();
    const timer = setInterval(() => void post().catch(() => undefined), REFRESH_MS);
    timer.unref();
    this.refreshing.set(pipeline, timer);
  }

  /** Takes the refusal of `pipeline` back, if there is one. */
  async withdraw(pipeline: string): Promise<void> {
    if (!this.stopRefreshing(pipeline)) return;
    await this.kv.delete(`${pipeline}.${this.processId}`).catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const pipeline of [...this.refreshing.keys()]) await this.withdraw(pipeline);
  }

  private stopRefreshing(pipeline: string): boolean {
    const timer = this.refreshing.get(pipeline);
    clearInterval(timer);
    return this.refreshing.delete(pipeline);
  }
}

/** The bucket as readers found it, once it exists (status is asked every second by an open editor). */
const readers = new WeakMap<NatsConnection, KV>();

/** The live refusals of a pipeline, from every worker, sorted by process; none while no worker has refused anything. */
export async function readRefusals(nc: NatsConnection, pipeline: string): Promise<Refusal[]> {
  let kv = readers.get(nc);
  if (!kv) {
    // Opened, not created: a reader does not know the replicas the workers give the bucket.
    kv = await new Kvm(nc).open(REFUSALS_BUCKET).catch(() => undefined);
    if (!kv) return [];
    readers.set(nc, kv);
  }
  const refusals: Refusal[] = [];
  for await (const key of await kv.keys(`${pipeline}.*`)) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") refusals.push(entry.json());
  }
  return refusals.sort((a, b) => a.process.localeCompare(b.process));
}
