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
import { once } from "node:events";
import { GridFSBucket, MongoClient, type Collection } from "mongodb";
import { BaseModelRegistry, type ChampionSignal } from "./base";
import { prepareRegistration, sha256Hex, summarize } from "./records";
import { checkModelName, RegistryError, type ModelSummary, type ModelVersion, type RegisterInput } from "../../sdk/registry";

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

export class MongoModelRegistry extends BaseModelRegistry {
  private readonly owner = randomBytes(8).toString("hex");
  private poll?: NodeJS.Timeout;

  private constructor(
    private readonly client: MongoClient,
    private readonly models: Collection<ModelDoc>,
    private readonly versionDocs: Collection<VersionDoc>,
    private readonly bucket: GridFSBucket,
    private readonly pollMs: number,
  ) {
    super();
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

  /** A lease on the model's `models` document, which expires if its holder dies. */
  protected async acquireLock(name: string): Promise<() => Promise<unknown>> {
    await this.models.updateOne({ _id: name }, { $setOnInsert: { nextVersion: 1, champion: null, championSeq: 0, lockedUntil: 0 } }, { upsert: true });
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      const now = Date.now();
      const got = await this.models.findOneAndUpdate(
        { _id: name, $or: [{ lockedUntil: { $lt: now } }, { lockedUntil: { $exists: false } }] },
        { $set: { lockedUntil: now + LEASE_MS, lockOwner: this.owner } },
        { returnDocument: "after" },
      );
      if (got) return () => this.models.updateOne({ _id: name, lockOwner: this.owner }, { $set: { lockedUntil: 0 }, $unset: { lockOwner: "" } });
      if (now > deadline) throw new RegistryError("conflict", `model "${name}" is locked by another client`);
      await sleep(wait);
    }
  }

  protected async readRecord(name: string, version: number): Promise<ModelVersion | undefined> {
    const doc = await this.versionDocs.findOne({ _id: `${name}@${version}` });
    if (!doc) return undefined;
    const { _id, ...record } = doc;
    return record as ModelVersion;
  }

  protected writeRecord(record: ModelVersion): Promise<unknown> {
    return this.versionDocs.replaceOne({ _id: `${record.name}@${record.version}` }, record);
  }

  protected async writeChampionSignal(name: string, version: number | null): Promise<ChampionSignal> {
    const doc = await this.models.findOneAndUpdate({ _id: name }, { $set: { champion: version }, $inc: { championSeq: 1 } }, { returnDocument: "after" });
    return { version, seq: doc?.championSeq ?? 0 };
  }

  protected async readChampionSignal(name: string): Promise<ChampionSignal | undefined> {
    const doc = await this.models.findOne({ _id: name });
    return doc ? { version: doc.champion ?? null, seq: doc.championSeq ?? 0 } : undefined;
  }

  /** The `models` counter keeps the number used. */
  protected async removeVersion(name: string, version: number): Promise<void> {
    await this.versionDocs.deleteOne({ _id: `${name}@${version}` });
    for (const file of await this.bucket.find({ filename: `${name}@${version}` }).toArray()) await this.bucket.delete(file._id);
  }

  /** Other clients' changes come by the poll alone. */
  protected followsOthers(): boolean {
    return false;
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

  async readArtifact(name: string, version: number): Promise<Uint8Array> {
    const record = await this.requireRecord(name, version);
    const chunks: Buffer[] = [];
    for await (const chunk of this.bucket.openDownloadStreamByName(`${name}@${version}`)) chunks.push(chunk as Buffer);
    const bytes = new Uint8Array(Buffer.concat(chunks));
    if (sha256Hex(bytes) !== record.artifact.sha256) throw new Error(`artifact of ${name}@${version} is corrupt: its SHA-256 differs from the one registered`);
    return bytes;
  }

  protected override startFollowing(): void {
    if (this.poll) return;
    this.poll = setInterval(() => void this.pollChampions(true), this.pollMs);
    this.poll.unref();
  }

  /** Other clients' champion changes, from the `models` documents. The first pass only learns the current state. */
  private async pollChampions(announce: boolean): Promise<void> {
    const docs = await this.models.find({}).toArray().catch(() => [] as ModelDoc[]);
    for (const doc of docs) {
      if (this.ownChampionChanges.has(doc._id)) continue; // the next poll reads it again
      const signal = { version: doc.champion ?? null, seq: doc.championSeq ?? 0 };
      if (announce) this.announceChampion(doc._id, signal);
      else if (!this.announcedChampion.has(doc._id)) this.announcedChampion.set(doc._id, signal);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.poll);
    await this.closeQueues();
    await this.client.close();
  }
}
