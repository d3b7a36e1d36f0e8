/**
 * MongoDB registry backend: version records as documents, artifacts in GridFS.
 *
 *   <prefix>models      { _id: name, nextVersion, champion, championSeq, lockedUntil, lockOwner }
 *   <prefix>versions    { _id: "name@n", ...ModelVersion }
 *   <prefix>artifacts   GridFS bucket, one file per version named "name@n"
 *
 * Works on a standalone server (no transactions, no change streams): a model's changes are
 * ordered by a lease on its `models` document, version numbers come from an atomic `$inc`,
 * and other clients' champion changes are seen by polling `championSeq`.
 *
 * NOTE: written without a MongoDB server at hand: its conformance test runs where
 * MONGODB_URL is set (test/registry/mongodb.test.ts) and has not run yet.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { GridFSBucket, MongoClient, type Collection } from "mongodb";
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

interface ModelDoc {
  _id: string;
  nextVersion?: number;
  champion?: number | null;
  championSeq?: number;
  lockedUntil?: number;
  lockOwner?: string;
}

type VersionDoc = ModelVersion & { _id: string };

const LEASE_MS = 15_000;
const LOCK_TIMEOUT_MS = 15_000;

export interface MongoRegistryOptions {
  url: string;
  /** Database name (default: the one in the URL, else "evoflow"). */
  database?: string;
  /** Prefix of the collections and the GridFS bucket (default "registry_"). */
  prefix?: string;
  /** How often watchers poll for champion changes made by other clients (default 1 s). */
  pollMs?: number;
  /** How long to look for a server before failing (default 5 s). */
  connectTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class MongoModelRegistry implements ModelRegistry {
  private readonly events = new EventEmitter();
  private readonly owner = randomBytes(8).toString("hex");
  private readonly announced = new Map<string, { version: number | null; seq: number }>();
  /** Models with a champion change of this client in progress: the poll leaves them to it, so a promotion always reads "status events, then champion". */
  private readonly ownChampionChanges = new Map<string, number>();
  private poll?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly client: MongoClient,
    private readonly models: Collection<ModelDoc>,
    private readonly versionDocs: Collection<VersionDoc>,
    private readonly bucket: GridFSBucket,
    private readonly pollMs: number,
  ) {
    this.events.setMaxListeners(0);
  }

  static async open(options: MongoRegistryOptions): Promise<MongoModelRegistry> {
    // A server that cannot be reached is an error within seconds, not the driver's default 30 s.
    const client = new MongoClient(options.url, { serverSelectionTimeoutMS: options.connectTimeoutMs ?? 5000 });
    await client.connect();
    const db = options.database ? client.db(options.database) : client.db();
    const prefix = options.prefix ?? "registry_";
    const registry = new MongoModelRegistry(
      client,
      db.collection<ModelDoc>(`${prefix}models`),
      db.collection<VersionDoc>(`${prefix}versions`),
      new GridFSBucket(db, { bucketName: `${prefix}artifacts` }),
      options.pollMs ?? 1000,
    );
    // Learn the current champions now, so a change made after `open` is reported, with its `previous`.
    await registry.pollChampions(false);
    return registry;
  }

  /** Removes every collection and artifact of this registry (tests, teardown). */
  async drop(): Promise<void> {
    await Promise.all([this.models.drop().catch(() => undefined), this.versionDocs.drop().catch(() => undefined), this.bucket.drop().catch(() => undefined)]);
  }

  private async changingChampion<T>(name: string, change: () => Promise<T>): Promise<T> {
    this.ownChampionChanges.set(name, (this.ownChampionChanges.get(name) ?? 0) + 1);
    try {
      return await change();
    } finally {
      const left = (this.ownChampionChanges.get(name) ?? 1) - 1;
      if (left > 0) this.ownChampionChanges.set(name, left);
      else this.ownChampionChanges.delete(name);
    }
  }

  private emit(event: RegistryEvent): void {
    this.events.emit(event.name, event);
    this.events.emit("*", event);
  }

  /** Holds the model's lease (on its `models` document) while `change` runs. */
  private async withLock<T>(name: string, change: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error("the registry is closed");
    await this.models.updateOne({ _id: name }, { $setOnInsert: { nextVersion: 1, champion: null, championSeq: 0, lockedUntil: 0 } }, { upsert: true });
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      const now = Date.now();
      const got = await this.models.findOneAndUpdate(
        { _id: name, $or: [{ lockedUntil: { $lt: now } }, { lockedUntil: { $exists: false } }] },
        { $set: { lockedUntil: now + LEASE_MS, lockOwner: this.owner } },
        { returnDocument: "after" },
      );
      if (got) break;
      if (now > deadline) throw new RegistryError("conflict", `model "${name}" is locked by another client`);
      await sleep(wait);
    }
    try {
      return await change();
    } finally {
      await this.models.updateOne({ _id: name, lockOwner: this.owner }, { $set: { lockedUntil: 0 }, $unset: { lockOwner: "" } });
    }
  }

  private async requireRecord(name: string, version: number): Promise<ModelVersion> {
    checkModelName(name);
    const record = Number.isInteger(version) && version > 0 ? await this.readRecord(name, version) : undefined;
    if (!record) throw notFound(name, version);
    return record;
  }

  private async readRecord(name: string, version: number): Promise<ModelVersion | undefined> {
    const doc = await this.versionDocs.findOne({ _id: `${name}@${version}` });
    if (!doc) return undefined;
    const { _id, ...record } = doc;
    return record as ModelVersion;
  }

  private writeRecord(record: ModelVersion): Promise<unknown> {
    return this.versionDocs.replaceOne({ _id: `${record.name}@${record.version}` }, record);
  }

  private async signalChampion(name: string, version: number | null): Promise<{ version: number | null; seq: number }> {
    const doc = await this.models.findOneAndUpdate({ _id: name }, { $set: { champion: version }, $inc: { championSeq: 1 } }, { returnDocument: "after" });
    return { version, seq: doc?.championSeq ?? 0 };
  }

  private announceChampion(name: string, signal: { version: number | null; seq: number }): void {
    const known = this.announced.get(name);
    if (known && signal.seq <= known.seq) return;
    this.announced.set(name, signal);
    if (signal.version === null || known?.version === signal.version) return;
    const previous = known?.version;
    this.emit({ type: "champion", name, version: signal.version, ...(previous !== undefined && previous !== null ? { previous } : {}) });
  }

  async register(input: RegisterInput): Promise<ModelVersion> {
    const prepared = prepareRegistration(input);
    return this.withLock(input.name, async () => {
      const counter = await this.models.findOneAndUpdate({ _id: input.name }, { $inc: { nextVersion: 1 } }, { returnDocument: "before" });
      const version = counter?.nextVersion ?? 1;
      const filename = `${input.name}@${version}`;
      const upload = this.bucket.openUploadStream(filename, { metadata: { name: input.name, version, sha256: prepared.artifact.sha256 } });
      upload.end(Buffer.from(input.artifact.buffer, input.artifact.byteOffset, input.artifact.byteLength));
      await once(upload, "finish");
      const now = new Date().toISOString();
      const record: ModelVersion = { ...prepared, version, history: [{ status: "candidate", at: now }], createdAt: now, updatedAt: now };
      try {
        await this.versionDocs.insertOne({ _id: filename, ...record });
      } catch (err) {
        await this.bucket.delete(upload.id).catch(() => undefined);
        throw err;
      }
      this.emit({ type: "registered", name: input.name, version });
      return record;
    });
  }

  async list(): Promise<ModelSummary[]> {
    const names = ((await this.versionDocs.distinct("name")) as string[]).sort();
    return Promise.all(names.map(async (name) => summarize(name, await this.versions(name))));
  }

  async versions(name: string): Promise<ModelVersion[]> {
    checkModelName(name);
    const docs = await this.versionDocs.find({ name }).sort({ version: 1 }).toArray();
    return docs.map(({ _id, ...record }) => record as ModelVersion);
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
    const chunks: Buffer[] = [];
    for await (const chunk of this.bucket.openDownloadStreamByName(`${name}@${version}`)) chunks.push(chunk as Buffer);
    const bytes = new Uint8Array(Buffer.concat(chunks));
    if (sha256Hex(bytes) !== record.artifact.sha256) throw new Error(`artifact of ${name}@${version} is corrupt: its SHA-256 differs from the one registered`);
    return bytes;
  }

  promote(name: string, version: number, reason?: string): Promise<ModelVersion> {
    return this.changingChampion(name, () => this.promoteNow(name, version, reason));
  }

  private async promoteNow(name: string, version: number, reason?: string): Promise<ModelVersion> {
    await this.requireRecord(name, version);
    const { promoted, changes, previous, signal } = await this.withLock(name, async () => {
      const before = await this.versions(name);
      const plan = planPromotion(before, version, new Date().toISOString(), reason);
      const ordered = [...plan.changed.filter((r) => r.version === version), ...plan.changed.filter((r) => r.version !== version)];
      for (const record of ordered) await this.writeRecord(record);
      const signal = await this.signalChampion(name, version);
      const changes = plan.changed.map((after) => ({ after, before: before.find((b) => b.version === after.version)! }));
      return { promoted: plan.changed.find((r) => r.version === version) ?? before.find((r) => r.version === version)!, changes, previous: plan.previous, signal };
    });
    for (const { before, after } of changes) this.emitStatus(before, after);
    if (!this.announced.has(name)) this.announced.set(name, { version: previous ?? null, seq: signal.seq - 1 });
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
    await this.requireRecord(name, version);
    const { before, after, signal } = await this.changingChampion(name, () => this.withLock(name, async () => {
      const before = await this.requireRecord(name, version);
      const after = withStatus(before, status, new Date().toISOString(), reason);
      await this.writeRecord(after);
      const signal = before.status === "champion" ? await this.signalChampion(name, null) : undefined;
      return { before, after, signal };
    }));
    this.emitStatus(before, after);
    if (signal) this.announceChampion(name, signal);
    return after;
  }

  delete(name: string, version: number, options: { force?: boolean } = {}): Promise<void> {
    return this.changingChampion(name, () => this.deleteNow(name, version, options));
  }

  private async deleteNow(name: string, version: number, options: { force?: boolean }): Promise<void> {
    await this.requireRecord(name, version);
    const signal = await this.withLock(name, async () => {
      const record = await this.requireRecord(name, version);
      if (record.status === "champion" && !options.force) {
        throw new RegistryError("conflict", `${name}@${version} is the champion: promote another version first, or force the delete`);
      }
      await this.versionDocs.deleteOne({ _id: `${name}@${version}` });
      for (const file of await this.bucket.find({ filename: `${name}@${version}` }).toArray()) await this.bucket.delete(file._id);
      return record.status === "champion" ? this.signalChampion(name, null) : undefined;
    });
    this.emit({ type: "deleted", name, version });
    if (signal) this.announceChampion(name, signal);
  }

  private async update(name: string, version: number, change: (record: ModelVersion) => ModelVersion): Promise<ModelVersion> {
    await this.requireRecord(name, version);
    return this.withLock(name, async () => {
      const after = change(await this.requireRecord(name, version));
      await this.writeRecord(after);
      return after;
    });
  }

  putMetrics(name: string, version: number, metrics: Record<string, number>): Promise<ModelVersion> {
    for (const [k, v] of Object.entries(metrics)) {
      if (typeof v !== "number") return Promise.reject(new RegistryError("invalid", `metric "${k}" must be a number`));
    }
    return this.update(name, version, (r) => ({ ...r, metrics: { ...r.metrics, ...metrics }, updatedAt: new Date().toISOString() }));
  }

  putProfile(name: string, version: number, profile: ModelProfile): Promise<ModelVersion> {
    return this.update(name, version, (r) => ({ ...r, profile: structuredClone(profile), updatedAt: new Date().toISOString() }));
  }

  putValidation(name: string, version: number, report: ValidationReport): Promise<ModelVersion> {
    if (typeof report?.passed !== "boolean" || !Array.isArray(report.reasons)) {
      return Promise.reject(new RegistryError("invalid", "a validation report needs `passed` (boolean) and `reasons` (array)"));
    }
    const now = new Date().toISOString();
    return this.update(name, version, (r) => ({ ...r, validation: { createdAt: now, ...structuredClone(report) }, updatedAt: now }));
  }

  setLabels(name: string, version: number, labels: Record<string, string | null>): Promise<ModelVersion> {
    for (const [k, v] of Object.entries(labels)) {
      if (v !== null && typeof v !== "string") return Promise.reject(new RegistryError("invalid", `label "${k}" must be a string (or null to remove it)`));
    }
    return this.update(name, version, (r) => {
      const merged: Record<string, string> = { ...r.labels };
      for (const [k, v] of Object.entries(labels)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      return { ...r, labels: merged, updatedAt: new Date().toISOString() };
    });
  }

  watch(name: string, listener: (event: RegistryEvent) => void): () => void {
    if (name !== "*") checkModelName(name);
    this.events.on(name, listener);
    if (!this.poll && !this.closed) {
      this.poll = setInterval(() => void this.pollChampions(true), this.pollMs);
      this.poll.unref();
    }
    return () => {
      this.events.off(name, listener);
    };
  }

  /** Other clients' champion changes, from the `models` documents. The first pass only learns the current state. */
  private async pollChampions(announce: boolean): Promise<void> {
    const docs = await this.models.find({}).toArray().catch(() => [] as ModelDoc[]);
    for (const doc of docs) {
      if (this.ownChampionChanges.has(doc._id)) continue; // the next poll reads it again
      const signal = { version: doc.champion ?? null, seq: doc.championSeq ?? 0 };
      if (announce) this.announceChampion(doc._id, signal);
      else if (!this.announced.has(doc._id)) this.announced.set(doc._id, signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    this.events.removeAllListeners();
    await this.client.close();
  }
}
