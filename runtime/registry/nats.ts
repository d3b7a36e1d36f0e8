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
import { randomBytes } from "node:crypto";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { BaseModelRegistry, type ChampionSignal } from "./base";
import { notFound, prepareRegistration, sha256Hex, summarize } from "./records";
import { checkModelName, RegistryError, type ModelSummary, type ModelVersion, type RegisterInput } from "../../sdk/registry";

export interface NatsRegistryOptions {
  /** Server URL(s); or pass an open `connection` to share it. */
  servers?: string | string[];
  connection?: NatsConnection;
  kvBucket?: string;
  objectBucket?: string;
  /** Replicas of both buckets (3 on a three-server cluster). */
  replicas?: number;
}

const LOCK_STALE_MS = 30_000;
const LOCK_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Model names may hold dots, which are KV key separators; "=" never occurs in a name. */
const token = (name: string) => name.replace(/\./g, "=");
const fromToken = (t: string) => t.replace(/=/g, ".");

export class NatsModelRegistry extends BaseModelRegistry {
  private readonly owner = randomBytes(6).toString("hex");
  private stopWatch?: () => void;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly kv: KV,
    private readonly objects: ObjectStore,
  ) {
    super();
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

  protected readRecord(name: string, version: number): Promise<ModelVersion | undefined> {
    return this.readJson<ModelVersion>(this.recordKey(name, version));
  }

  protected async writeRecord(record: ModelVersion): Promise<void> {
    await this.kv.put(this.recordKey(record.name, record.version), JSON.stringify(record));
  }

  /** A KV key created if absent, broken when its holder has been at it far longer than any change takes. */
  protected async acquireLock(name: string): Promise<() => Promise<unknown>> {
    const key = this.lockKey(name);
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        await this.kv.create(key, JSON.stringify({ owner: this.owner, at: Date.now() }));
        return () => this.kv.delete(key).catch(() => undefined);
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

  protected async writeChampionSignal(name: string, version: number | null): Promise<ChampionSignal> {
    const current = await this.readChampionSignal(name);
    const signal = { version, seq: (current?.seq ?? 0) + 1, at: new Date().toISOString() };
    await this.kv.put(this.championKey(name), JSON.stringify(signal));
    return signal;
  }

  protected readChampionSignal(name: string): Promise<ChampionSignal | undefined> {
    return this.readJson<ChampionSignal>(this.championKey(name));
  }

  /** The counter key keeps the number used. */
  protected async removeVersion(name: string, version: number): Promise<void> {
    await this.kv.delete(this.recordKey(name, version));
    await this.objects.delete(this.objectName(name, version)).catch(() => undefined);
  }

  /** Every client watches the champion keys from the start (see `watchChampions`). */
  protected followsOthers(): boolean {
    return true;
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

  async readArtifact(name: string, version: number): Promise<Uint8Array> {
    const record = await this.requireRecord(name, version);
    const bytes = await this.objects.getBlob(this.objectName(name, version));
    if (!bytes) throw notFound(name, version);
    if (sha256Hex(bytes) !== record.artifact.sha256) throw new Error(`artifact of ${name}@${version} is corrupt: its SHA-256 differs from the one registered`);
    return bytes;
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    await this.closeQueues();
    if (this.ownsConnection) await this.nc.drain().catch(() => undefined);
  }
}
