/**
 * What every registry backend shares: the order of writes in a promotion, status and
 * metadata updates under the model's lock, and champion events that other processes'
 * changes reach through a numbered champion signal. A backend supplies storage: records,
 * artifacts, a lock between processes and the signal (fs.ts, nats.ts, mongodb.ts).
 */
import { EventEmitter } from "node:events";
import { checkStatus, notFound, planPromotion, withStatus } from "./records";
import {
  checkModelName,
  RegistryError,
  type ModelProfile,
  type ModelRegistry,
  type ModelStatus,
  type ModelSummary,
  type ModelVersion,
  type RegisterInput,
  type RegistryEvent,
  type ValidationReport,
  type VersionRef,
} from "../../sdk/registry";

/** The current champion of a model (null: none), numbered so readers can order signals. */
export interface ChampionSignal {
  version: number | null;
  seq: number;
}

export abstract class BaseModelRegistry implements ModelRegistry {
  protected readonly events = new EventEmitter();
  /** Per model, the tail of this process's queue of changes (the backend's lock orders processes). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /**
   * The last champion signal announced per model. Signals are numbered, so a change seen twice
   * (made here and read back) is announced once, and a late read never announces an older one.
   */
  protected readonly announcedChampion = new Map<string, ChampionSignal>();
  /** Models with a champion change of this process in progress (see `changingChampion`). */
  protected readonly ownChampionChanges = new Map<string, number>();
  protected closed = false;

  constructor() {
    this.events.setMaxListeners(0);
  }

  // ---- what a backend provides

  protected abstract readRecord(name: string, version: number): Promise<ModelVersion | undefined>;
  protected abstract writeRecord(record: ModelVersion): Promise<unknown>;
  /** Takes the model's lock between processes; resolves with the function that releases it. */
  protected abstract acquireLock(name: string): Promise<() => Promise<unknown>>;
  /** Call holding the model's lock (it keeps `seq` increasing): stores the next champion signal. */
  protected abstract writeChampionSignal(name: string, version: number | null): Promise<ChampionSignal>;
  protected abstract readChampionSignal(name: string): Promise<ChampionSignal | undefined>;
  /** Call holding the model's lock: removes a version's record and artifact; its number stays used. */
  protected abstract removeVersion(name: string, version: number): Promise<void>;
  /** Whether, once a change of ours is done, to read the signal again for changes by others meanwhile. */
  protected abstract followsOthers(): boolean;
  /** Starts following other processes' champion changes, on the first `watch`. */
  protected startFollowing(): void {}

  abstract register(input: RegisterInput): Promise<ModelVersion>;
  abstract list(): Promise<ModelSummary[]>;
  abstract versions(name: string): Promise<ModelVersion[]>;
  abstract readArtifact(name: string, version: number): Promise<Uint8Array>;
  abstract close(): Promise<void>;

  // ---- shared behaviour

  protected async requireRecord(name: string, version: number): Promise<ModelVersion> {
    checkModelName(name);
    const record = Number.isInteger(version) && version > 0 ? await this.readRecord(name, version) : undefined;
    if (!record) throw notFound(name, version);
    return record;
  }

  /** Runs `change` holding the model's lock: queued within this process, the backend's lock between processes. */
  protected withLock<T>(name: string, change: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the registry is closed"));
    const run = async () => {
      const release = await this.acquireLock(name);
      try {
        return await change();
      } finally {
        await release();
      }
    };
    const result = (this.queues.get(name) ?? Promise.resolve()).then(run, run);
    const tail = result.catch(() => undefined);
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return result;
  }

  /** Marks the registry closed and waits for the changes under way; backends release their resources after. */
  protected async closeQueues(): Promise<void> {
    this.closed = true;
    this.events.removeAllListeners();
    await Promise.all([...this.queues.values()]);
  }

  protected emit(event: RegistryEvent): void {
    this.events.emit(event.name, event);
    this.events.emit("*", event);
  }

  protected announceChampion(name: string, signal: ChampionSignal): void {
    const known = this.announcedChampion.get(name);
    if (known && signal.seq <= known.seq) return;
    this.announcedChampion.set(name, { version: signal.version, seq: signal.seq });
    if (signal.version === null || known?.version === signal.version) return;
    const previous = known?.version;
    this.emit({ type: "champion", name, version: signal.version, ...(previous !== undefined && previous !== null ? { previous } : {}) });
  }

  /** Announces another process's champion change, unless a change of ours to that model is under way. */
  protected async checkChampionSignal(name: string): Promise<void> {
    if (this.ownChampionChanges.has(name)) return; // read again when that change is done
    const signal = await this.readChampionSignal(name).catch(() => undefined);
    if (signal && !this.closed && !this.ownChampionChanges.has(name)) this.announceChampion(name, signal);
  }

  /**
   * Runs a change that may move the champion. Until it has emitted its own events, reads of
   * the signal stay quiet about this model, so that listeners always see a promotion as
   * "status events, then the champion event" (a read finishing first would reverse that).
   */
  private async changingChampion<T>(name: string, change: () => Promise<T>): Promise<T> {
    this.ownChampionChanges.set(name, (this.ownChampionChanges.get(name) ?? 0) + 1);
    try {
      return await change();
    } finally {
      const left = (this.ownChampionChanges.get(name) ?? 1) - 1;
      if (left > 0) this.ownChampionChanges.set(name, left);
      else {
        this.ownChampionChanges.delete(name);
        // A change by another process may have been signalled meanwhile.
        if (this.followsOthers()) void this.checkChampionSignal(name);
      }
    }
  }

  async get(name: string, ref: VersionRef = "latest"): Promise<ModelVersion | undefined> {
    checkModelName(name);
    if (typeof ref === "number") return Number.isInteger(ref) && ref > 0 ? this.readRecord(name, ref) : undefined;
    const all = await this.versions(name);
    if (ref === "latest") return all.at(-1);
    if (ref === "champion") return all.filter((v) => v.status === "champion").at(-1);
    throw new RegistryError("invalid", `invalid version reference "${String(ref)}"`);
  }

  promote(name: string, version: number, reason?: string): Promise<ModelVersion> {
    return this.changingChampion(name, async () => {
      await this.requireRecord(name, version);
      const { promoted, changes, previous, signal } = await this.withLock(name, async () => {
        const now = new Date().toISOString();
        const before = await this.versions(name);
        const plan = planPromotion(before, version, now, reason);
        // The new champion is written first: a crash between writes leaves two champions, and readers take the newest.
        const ordered = [...plan.changed.filter((r) => r.version === version), ...plan.changed.filter((r) => r.version !== version)];
        for (const record of ordered) await this.writeRecord(record);
        const signal = await this.writeChampionSignal(name, version);
        const changes = plan.changed.map((after) => ({ after, before: before.find((b) => b.version === after.version)! }));
        return { promoted: plan.changed.find((r) => r.version === version) ?? before.find((r) => r.version === version)!, changes, previous: plan.previous, signal };
      });
      for (const { before, after } of changes) this.emitStatus(before, after);
      if (!this.announcedChampion.has(name)) this.announcedChampion.set(name, { version: previous ?? null, seq: signal.seq - 1 });
      this.announceChampion(name, signal);
      return promoted;
    });
  }

  private emitStatus(before: ModelVersion, after: ModelVersion): void {
    const reason = after.history.at(-1)?.reason;
    this.emit({ type: "status", name: after.name, version: after.version, status: after.status, previous: before.status, ...(reason !== undefined ? { reason } : {}) });
  }

  async setStatus(name: string, version: number, status: ModelStatus, reason?: string): Promise<ModelVersion> {
    checkStatus(status);
    if (status === "champion") return this.promote(name, version, reason);
    return this.changingChampion(name, async () => {
      let signal: ChampionSignal | undefined;
      const { before, after } = await this.update(name, version, (r) => withStatus(r, status, new Date().toISOString(), reason), async (before) => {
        if (before.status === "champion") signal = await this.writeChampionSignal(name, null);
      });
      this.emitStatus(before, after);
      if (signal) this.announceChampion(name, signal);
      return after;
    });
  }

  delete(name: string, version: number, options: { force?: boolean } = {}): Promise<void> {
    return this.changingChampion(name, async () => {
      await this.requireRecord(name, version);
      const signal = await this.withLock(name, async () => {
        const record = await this.requireRecord(name, version);
        if (record.status === "champion" && !options.force) {
          throw new RegistryError("conflict", `${name}@${version} is the champion: promote another version first, or force the delete`);
        }
        await this.removeVersion(name, version);
        return record.status === "champion" ? this.writeChampionSignal(name, null) : undefined;
      });
      this.emit({ type: "deleted", name, version });
      if (signal) this.announceChampion(name, signal);
    });
  }

  /** Read-modify-write of one record under the lock. */
  private async update(
    name: string,
    version: number,
    change: (record: ModelVersion) => ModelVersion,
    afterWrite?: (before: ModelVersion) => Promise<void>,
  ): Promise<{ before: ModelVersion; after: ModelVersion }> {
    await this.requireRecord(name, version);
    return this.withLock(name, async () => {
      const before = await this.requireRecord(name, version);
      const after = change(before);
      await this.writeRecord(after);
      await afterWrite?.(before);
      return { before, after };
    });
  }

  async putMetrics(name: string, version: number, metrics: Record<string, number>): Promise<ModelVersion> {
    for (const [k, v] of Object.entries(metrics)) {
      if (typeof v !== "number") throw new RegistryError("invalid", `metric "${k}" must be a number`);
    }
    return (await this.update(name, version, (r) => ({ ...r, metrics: { ...r.metrics, ...metrics }, updatedAt: new Date().toISOString() }))).after;
  }

  async putProfile(name: string, version: number, profile: ModelProfile): Promise<ModelVersion> {
    return (await this.update(name, version, (r) => ({ ...r, profile: structuredClone(profile), updatedAt: new Date().toISOString() }))).after;
  }

  async putValidation(name: string, version: number, report: ValidationReport): Promise<ModelVersion> {
    if (typeof report?.passed !== "boolean" || !Array.isArray(report.reasons)) {
      throw new RegistryError("invalid", "a validation report needs `passed` (boolean) and `reasons` (array)");
    }
    const now = new Date().toISOString();
    return (await this.update(name, version, (r) => ({ ...r, validation: { createdAt: now, ...structuredClone(report) }, updatedAt: now }))).after;
  }

  async setLabels(name: string, version: number, labels: Record<string, string | null>): Promise<ModelVersion> {
    for (const [k, v] of Object.entries(labels)) {
      if (v !== null && typeof v !== "string") throw new RegistryError("invalid", `label "${k}" must be a string (or null to remove it)`);
    }
    const { after } = await this.update(name, version, (r) => {
      const merged: Record<string, string> = { ...r.labels };
      for (const [k, v] of Object.entries(labels)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      return { ...r, labels: merged, updatedAt: new Date().toISOString() };
    });
    return after;
  }

  watch(name: string, listener: (event: RegistryEvent) => void): () => void {
    if (name !== "*") checkModelName(name);
    this.events.on(name, listener);
    if (!this.closed) this.startFollowing();
    return () => {
      this.events.off(name, listener);
    };
  }
}
