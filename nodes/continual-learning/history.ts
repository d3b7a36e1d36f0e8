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
import type { Decision, GateReport, HistoryEntry, ModelCard } from "../../sdk/api-types";

export type { Decision, HistoryEntry, ModelCard };

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

  /** The latest model.bandit record with `model@version` among its arms, searching every service. */
  async findBandit(model: string, version: number): Promise<HistoryEntry | undefined> {
    let latest: HistoryEntry | undefined;
    for (const service of await this.services())
      for (const e of await this.list(service))
        if (e.model === model && (e.bandit as { arms?: { version: number }[] } | undefined)?.arms?.some((a) => a.version === version) && (!latest || e.at >= latest.at)) latest = e;
    return latest;
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

/** What the gate measured of the version's cost, and of the champion it was judged against. */
function gateCost(report: GateReport | undefined): ModelCard["cost"] {
  const candidate = report?.candidate?.cost;
  if (!candidate) return undefined;
  const champion = report.champion?.cost;
  return { candidate, ...(champion && { champion: { ...champion, version: report.champion!.version } }) };
}

/** A card from whatever is known: the registry record, the history entry, or both. */
export function modelCard(model: string, version: number, record?: ModelVersion, entry?: HistoryEntry, banditEntry?: HistoryEntry): ModelCard {
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
    cost: gateCost(entry?.validation),
    decision: entry?.decision,
    rollout: entry?.rollout,
    bandit: banditEntry?.bandit,
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
  const banditEntry = await history.findBandit(model, version);
  return record || entry || banditEntry ? modelCard(model, version, record, entry, banditEntry) : undefined;
}
