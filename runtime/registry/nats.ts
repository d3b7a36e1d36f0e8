/**
 * Registry backend on NATS: JetStream KV for the records, Object Store for the ONNX
 * artifacts, so every process of a distributed deployment (coordinator, workers, trainers,
 * the CLI) shares one registry through the NATS server it already uses.
 *
 * KV bucket (default `evoflow_registry`), keys per model (dots in names become "="):
 *   v.<name>.<n>   the version record (JSON), written after its artifact
 *   n.<name>       the last version number claimed: numbers are never reused, even after a delete
 *   c.<name>       the champion signal {version|null, seq}: every client watches these
 *   l.<name>       the model's lock while a client changes it (create-if-absent; broken when stale)
 * Object Store bucket (default `evoflow_models`): `<name>/<n>.onnx`.
 *
 * Events: a client reports its own changes at once (status events, then the champion
 * event); champion changes by other clients arrive through a KV watch of `c.*`, ordered by
 * `seq` so a late one never overrides a newer one.
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkStatus, notFound, planPromotion, prepareRegistration, sha256Hex, summarize, withStatus } from "./records";
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
} from "./types";

export interface NatsRegistryOptions {
  /** Server URL(s); or pass an open `connection` to share it. */
  servers?: string | string[];
  connection?: NatsConnection;
  kvBucket?: string;
  objectBucket?: string;
  /** Replicas of both buckets (3 on a three-server cluster). */
  replicas?: number;
}

interface ChampionSignal {
  version: number | null;
  seq: number;
  at: string;
}

const LOCK_STALE_MS = 30_000;
const LOCK_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Model names may hold dots, which are KV key separators; "=" never occurs in a name. */
const token = (name: string) => name.replace(/\./g, "=");
const fromToken = (t: string) => t.replace(/=/g, ".");

export class NatsModelRegistry implements ModelRegistry {
  private readonly events = new EventEmitter();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly announcedChampion = new Map<string, { version: number | null; seq: number }>();
  private readonly ownChampionChanges = new Map<string, number>();
  private readonly owner = randomBytes(6).toString("hex");
  private stopWatch?: () => void;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly kv: KV,
    private readonly objects: ObjectStore,
  ) {
    this.events.setMaxListeners(0);
  }

  static async connect(options: NatsRegistryOptions): Promise<NatsModelRegistry> {
    if (!options.connection && !options.servers) throw new Error("the nats registry needs `servers` or a `connection`");
    const nc = options.connection ?? (await connect({ servers: options.servers!, name: "evoflow-registry", maxReconnectAttempts: -1 }));
    const replicas = options.replicas ?? 1;
    const kv = await new Kvm(nc).create(options.kvBucket ?? "evoflow_registry", { history: 1, replicas });
    const objects = await new Objm(nc).create(options.objectBucket ?? "evoflow_models", { replicas });
    const registry = new NatsModelRegistry(nc, !options.connection, kv, objects);
    await registry.watchChampions();
    return registry;
  }

  private recordKey = (name: string, version: number) => `v.${token(name)}.${version}`;
  private counterKey = (name: string) => `n.${token(name)}`;
  private championKey = (name: string) => `c.${token(name)}`;
  private lockKey = (name: string) => `l.${token(name)}`;
  private objectName = (name: string, version: number) => `${name}/${version}.onnx`;

  private async readJson<T>(key: string): Promise<T | undefined> {
    const entry = await this.kv.get(key);
    return entry && entry.operation === "PUT" ? entry.json<T>() : undefined;
  }

  private readRecord(name: string, version: number): Promise<ModelVersion | undefined> {
    return this.readJson<ModelVersion>(this.recordKey(name, version));
  }

  private async requireRecord(name: string, version: number): Promise<ModelVersion> {
    checkModelName(name);
    const record = Number.isInteger(version) && version > 0 ? await this.readRecord(name, version) : undefined;
    if (!record) throw notFound(name, version);
    return record;
  }

  private async writeRecord(record: ModelVersion): Promise<void> {
    await this.kv.put(this.recordKey(record.name, record.version), JSON.stringify(record));
  }

  /** Runs `change` holding the model's lock: queued within this client, a KV lock between clients. */
  private withLock<T>(name: string, change: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the registry is closed"));
    const run = async () => {
      await this.acquireLock(name);
      try {
        return await change();
      } finally {
        await this.kv.delete(this.lockKey(name)).catch(() => undefined);
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

  private async acquireLock(name: string): Promise<void> {
    const key = this.lockKey(name);
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        await this.kv.create(key, JSON.stringify({ owner: this.owner, at: Date.now() }));
        return;
      } catch {
        // Held by someone: break it if its holder has been at it far longer than any change takes (it died).
        const entry = await this.kv.get(key);
        if (entry?.operation === "PUT" && Date.now() - entry.json<{ at: number }>().at > LOCK_STALE_MS) {
          await this.kv.delete(key, { previousSeq: entry.revision }).catch(() => undefined);
          continue;
        }
      }
      if (Date.now() > deadline) throw new RegistryError("conflict", `model "${name}" is locked by another client`);
      await sleep(wait);
    }
  }

  private emit(event: RegistryEvent): void {
    this.events.emit(event.name, event);
    this.events.emit("*", event);
  }

  /** Call holding the model's lock: the lock keeps `seq` increasing across clients. */
  private async writeChampionSignal(name: string, version: number | null): Promise<ChampionSignal> {
    const current = await this.readJson<ChampionSignal>(this.championKey(name));
    const signal: ChampionSignal = { version, seq: (current?.seq ?? 0) + 1, at: new Date().toISOString() };
    await this.kv.put(this.championKey(name), JSON.stringify(signal));
    return signal;
  }

  private announceChampion(name: string, signal: ChampionSignal): void {
    const known = this.announcedChampion.get(name);
    if (known && signal.seq <= known.seq) return;
    this.announcedChampion.set(name, { version: signal.version, seq: signal.seq });
    if (signal.version === null || known?.version === signal.version) return;
    const previous = known?.version;
    this.emit({ type: "champion", name, version: signal.version, ...(previous !== undefined && previous !== null ? { previous } : {}) });
  }

  /** Follows every model's champion signal; the current ones are learnt silently, later ones announced. */
  private async watchChampions(): Promise<void> {
    const watch = await this.kv.watch({ key: "c.>" });
    this.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const name = fromToken(e.key.slice(2));
        const signal = e.json<ChampionSignal>();
        if (!e.isUpdate) {
          if (!this.announcedChampion.has(name)) this.announcedChampion.set(name, { version: signal.version, seq: signal.seq });
        } else if (!this.ownChampionChanges.has(name)) this.announceChampion(name, signal);
      }
    })();
  }

  private async checkChampionSignal(name: string): Promise<void> {
    const signal = await this.readJson<ChampionSignal>(this.championKey(name)).catch(() => undefined);
    if (signal && !this.closed && !this.ownChampionChanges.has(name)) this.announceChampion(name, signal);
  }

  /** While this client changes a model's champion, the watch stays quiet about it: status events come first. */
  private async changingChampion<T>(name: string, change: () => Promise<T>): Promise<T> {
    this.ownChampionChanges.set(name, (this.ownChampionChanges.get(name) ?? 0) + 1);
    try {
      return await change();
    } finally {
      const left = (this.ownChampionChanges.get(name) ?? 1) - 1;
      if (left > 0) this.ownChampionChanges.set(name, left);
      else {
        this.ownChampionChanges.delete(name);
        void this.checkChampionSignal(name); // another client's change may have come meanwhile
      }
    }
  }

  async register(input: RegisterInput): Promise<ModelVersion> {
    const prepared = prepareRegistration(input); // throws before anything is stored
    return this.withLock(input.name, async () => {
      const version = ((await this.readJson<number>(this.counterKey(input.name))) ?? 0) + 1;
      await this.kv.put(this.counterKey(input.name), JSON.stringify(version));
      const now = new Date().toISOString();
      const record: ModelVersion = { ...prepared, version, history: [{ status: "candidate", at: now }], createdAt: now, updatedAt: now };
      try {
        await this.objects.putBlob({ name: this.objectName(input.name, version) }, input.artifact);
        await this.writeRecord(record);
      } catch (err) {
        await this.objects.delete(this.objectName(input.name, version)).catch(() => undefined);
        throw err;
      }
      this.emit({ type: "registered", name: record.name, version });
      return record;
    });
  }

  async list(): Promise<ModelSummary[]> {
    const names: string[] = [];
    for await (const key of await this.kv.keys("n.*")) names.push(fromToken(key.slice(2)));
    const summaries: ModelSummary[] = [];
    for (const name of names.sort()) {
      const versions = await this.versions(name);
      if (versions.length) summaries.push(summarize(name, versions));
    }
    return summaries;
  }

  async versions(name: string): Promise<ModelVersion[]> {
    checkModelName(name);
    const numbers: number[] = [];
    for await (const key of await this.kv.keys(`v.${token(name)}.*`)) numbers.push(Number(key.slice(key.lastIndexOf(".") + 1)));
    const records = await Promise.all(numbers.sort((a, b) => a - b).map((v) => this.readRecord(name, v)));
    return records.filter((r): r is ModelVersion => r !== undefined);
  }

  async get(name: string, ref: VersionRef = "latest"): Promise<ModelVersion | undefined> {
    checkModelName(name);
    if (typeof ref === "number") return Number.isInteger(ref) && ref > 0 ? this.readRecord(name, ref) : undefined;
    const all = await this.versions(name);
    if (ref === "latest") return all.at(-1);
    if (ref === "champion") return all.filter((v) => v.status === "champion").at(-1);
    throw new RegistryError("invalid", `invalid version reference "${String(ref)}"`);
  }

  async readArtifact(name: string, version: number): Promise<Uint8Array> {
    const record = await this.requireRecord(name, version);
    const bytes = await this.objects.getBlob(this.objectName(name, version));
    if (!bytes) throw notFound(name, version);
    if (sha256Hex(bytes) !== record.artifact.sha256) throw new Error(`artifact of ${name}@${version} is corrupt: its SHA-256 differs from the one registered`);
    return bytes;
  }

  promote(name: string, version: number, reason?: string): Promise<ModelVersion> {
    return this.changingChampion(name, () => this.promoteNow(name, version, reason));
  }

  private async promoteNow(name: string, version: number, reason?: string): Promise<ModelVersion> {
    await this.requireRecord(name, version);
    const { promoted, changes, previous, signal } = await this.withLock(name, async () => {
      const now = new Date().toISOString();
      const before = await this.versions(name);
      const plan = planPromotion(before, version, now, reason);
      // The new champion first: a crash between writes leaves two champions, and readers take the newest.
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
        if (record.status === "champion" && !options.force)
          throw new RegistryError("conflict", `${name}@${version} is the champion: promote another version first, or force the delete`);
        await this.kv.delete(this.recordKey(name, version));
        await this.objects.delete(this.objectName(name, version)).catch(() => undefined);
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
    for (const [k, v] of Object.entries(metrics)) if (typeof v !== "number") throw new RegistryError("invalid", `metric "${k}" must be a number`);
    return (await this.update(name, version, (r) => ({ ...r, metrics: { ...r.metrics, ...metrics }, updatedAt: new Date().toISOString() }))).after;
  }

  async putProfile(name: string, version: number, profile: ModelProfile): Promise<ModelVersion> {
    return (await this.update(name, version, (r) => ({ ...r, profile: structuredClone(profile), updatedAt: new Date().toISOString() }))).after;
  }

  async putValidation(name: string, version: number, report: ValidationReport): Promise<ModelVersion> {
    if (typeof report?.passed !== "boolean" || !Array.isArray(report.reasons))
      throw new RegistryError("invalid", "a validation report needs `passed` (boolean) and `reasons` (array)");
    const now = new Date().toISOString();
    return (await this.update(name, version, (r) => ({ ...r, validation: { createdAt: now, ...structuredClone(report) }, updatedAt: now }))).after;
  }

  async setLabels(name: string, version: number, labels: Record<string, string | null>): Promise<ModelVersion> {
    for (const [k, v] of Object.entries(labels))
      if (v !== null && typeof v !== "string") throw new RegistryError("invalid", `label "${k}" must be a string (or null to remove it)`);
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
    return () => {
      this.events.off(name, listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWatch?.();
    this.events.removeAllListeners();
    await Promise.all([...this.queues.values()]);
    if (this.ownsConnection) await this.nc.drain().catch(() => undefined);
  }
}
