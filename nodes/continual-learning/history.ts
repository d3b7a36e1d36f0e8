/**
 * The history of a CL service: one entry per update attempt, accepted or rejected, with why
 * it ran, what it learnt from, how, what it scored and what was decided. Kept as one
 * append-only JSON Lines file per service under `<dataDir>/cl/history/`, so it survives
 * restarts, can be tailed, and diffs cleanly. A model card joins a registry version with
 * its history entry.
 */
import * as fs from "node:fs/promises";
import path from "node:path";
import type { ModelRegistry, ModelVersion, VersionRef } from "../../sdk/registry";
import type { GateReport } from "./gate";
import type { AccuracyMatrix } from "./metrics";
import type { SnapshotMeta } from "./snapshot";

/** `pending`: a rollout is running; a rolled-back rollout ends `rejected`, with its `reason`. */
export type Decision = "promoted" | "rejected" | "failed" | "pending";

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
  snapshot?: Pick<SnapshotMeta, "id" | "count" | "classes" | "source">;
  trainingMs?: number;
  samplesSeen?: number;
  sizeBytes?: number;
  /** Avalanche metrics: rows are update steps, columns experiences (one per update). */
  metrics?: { accuracyMatrix: AccuracyMatrix; averageAccuracy: number; bwt: number; forgetting: number; holdoutAccuracy?: number };
  validation?: GateReport;
  decision: Decision;
  /** Why a candidate that passed validation was still rejected (its rollout rolled back). */
  reason?: string;
  /** The shadow or canary rollout (nodes/continual-learning/rollout.ts RolloutStatus): steps, checks, requests answered by each version. */
  rollout?: unknown;
  error?: string;
}

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `<runtime dataDir>/cl/history`. Nodes get `<dataDir>/<pipeline>/<node>` as their folder, hence the walk up. */
export function historyRoot(runtimeDataDir: string): string {
  return path.resolve(runtimeDataDir, "cl", "history");
}
export function historyRootFromNodeDir(nodeDataDir: string): string {
  return historyRoot(path.resolve(nodeDataDir, "..", ".."));
}

export class HistoryStore {
  constructor(readonly root: string) {}

  private file(service: string): string {
    if (!SERVICE_NAME.test(service)) throw new Error(`invalid service name "${service}"`);
    return path.join(this.root, `${service}.jsonl`);
  }

  async append(entry: HistoryEntry): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
    await fs.appendFile(this.file(entry.service), JSON.stringify(entry) + "\n");
  }

  /** Entries oldest first; empty when the service has no history. Later lines for the same id replace earlier ones (a decision recorded after a rollout). */
  async list(service: string): Promise<HistoryEntry[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file(service), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const byId = new Map<string, HistoryEntry>();
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line) as HistoryEntry;
      byId.delete(entry.id);
      byId.set(entry.id, entry);
    }
    return [...byId.values()];
  }

  async services(): Promise<string[]> {
    try {
      return (await fs.readdir(this.root)).filter((f) => f.endsWith(".jsonl")).map((f) => f.slice(0, -6)).sort();
    } catch {
      return [];
    }
  }

  /** The entry that produced `model@version`, searching every service. */
  async findVersion(model: string, version: number): Promise<HistoryEntry | undefined> {
    for (const service of await this.services()) {
      const hit = (await this.list(service)).find((e) => e.model === model && e.version === version);
      if (hit) return hit;
    }
    return undefined;
  }
}

export interface ModelCard {
  model: string;
  version: number;
  status?: string;
  statusHistory?: ModelVersion["history"];
  createdAt?: string;
  artifact?: ModelVersion["artifact"];
  signature?: { inputs: unknown; outputs: unknown };
  lineage?: ModelVersion["lineage"];
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
  profile?: ModelVersion["profile"];
  decision?: Decision;
  rollout?: unknown;
}

/** A card from whatever is known: the registry record, the history entry, or both. */
export function modelCard(model: string, version: number, record?: ModelVersion, entry?: HistoryEntry): ModelCard {
  return {
    model,
    version,
    status: record?.status,
    statusHistory: record?.history,
    createdAt: record?.createdAt ?? entry?.at,
    artifact: record?.artifact,
    signature: record ? { inputs: record.signature.inputs, outputs: record.signature.outputs } : undefined,
    lineage: record?.lineage,
    service: entry?.service,
    trigger: entry?.trigger,
    scenario: entry?.scenario,
    strategy: entry?.strategy,
    data: entry?.snapshot,
    training: entry ? { ms: entry.trainingMs, samplesSeen: entry.samplesSeen } : undefined,
    sizeBytes: entry?.sizeBytes ?? record?.artifact.size,
    metrics: entry?.metrics || record?.metrics ? { ...record?.metrics, ...entry?.metrics } as ModelCard["metrics"] : undefined,
    validation: entry?.validation ?? record?.validation,
    profile: record?.profile,
    decision: entry?.decision,
    rollout: entry?.rollout,
  };
}

/**
 * The card of `model@ref` (ref: a number, "champion" or "latest") from the registry and the
 * history; undefined when neither knows the version.
 */
export async function findModelCard(registry: ModelRegistry | undefined, history: HistoryStore, model: string, ref: VersionRef): Promise<ModelCard | undefined> {
  const record = registry ? await registry.get(model, ref) : undefined;
  const version = record?.version ?? (typeof ref === "number" ? ref : undefined);
  if (version === undefined) return undefined;
  const entry = await history.findVersion(model, version);
  return record || entry ? modelCard(model, version, record, entry) : undefined;
}
