/**
 * File-system registry backend, the embedded default: one data folder, safe to share between
 * processes on one machine (the CLI promoting while a server serves).
 *
 *   <dir>/models/<name>/versions/<n>/model.onnx     the artifact
 *   <dir>/models/<name>/versions/<n>/version.json   the record (written last: a version exists once it is there)
 *   <dir>/models/<name>/versions/<n>/deleted        tombstone, so numbers are never reused
 *   <dir>/models/<name>/.lock                       held while a process changes the model
 *   <dir>/champions/<name>.json                     the current champion, a signal other processes watch
 *
 * Every file is written to a temporary name, flushed, then renamed: readers never see half a file.
 */
import { EventEmitter } from "node:events";
import { type FSWatcher, mkdirSync, readdirSync, readFileSync, watch as watchDir } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { checkStatus, notFound, planPromotion, prepareRegistration, sha256Hex, summarize, withStatus } from "./records";
import {
  checkModelName,
  MODEL_NAME,
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

/** `EVOFLOW_REGISTRY`, or `.evoflow/registry` under the working directory. */
export function defaultRegistryDir(): string {
  return path.resolve(process.env.EVOFLOW_REGISTRY || ".evoflow/registry");
}

/** `champions/<name>.json`: the current champion (null: none), numbered so readers can order signals. */
interface ChampionSignal {
  version: number | null;
  seq: number;
  at: string;
}

const LOCK_STALE_MS = 30_000;
const LOCK_TIMEOUT_MS = 15_000;

async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class FsModelRegistry implements ModelRegistry {
  readonly dir: string;
  private readonly events = new EventEmitter();
  /** Per model, the tail of this process's queue of changes (the lock file orders processes). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /**
   * The last champion signal announced per model. Signals are numbered, so a change seen twice
   * (here and by the folder watcher) is announced once, and a late read never announces an older one.
   */
  private readonly announcedChampion = new Map<string, { version: number | null; seq: number }>();
  private championWatcher?: FSWatcher;
  /** Models with a champion change of this process in progress (see `changingChampion`). */
  private readonly ownChampionChanges = new Map<string, number>();
  private championPoll?: NodeJS.Timeout;
  private readonly pollMs: number;
  private readonly fsWatch: boolean;
  private watching = false;
  private closed = false;

  /**
   * `pollMs`: how often watchers re-read the champions folder in case the file-system watch
   * missed a change (default 2 s). `fsWatch: false` relies on the poll alone, for file systems
   * whose change notifications do not work (some network mounts).
   */
  constructor(dir: string = defaultRegistryDir(), options: { pollMs?: number; fsWatch?: boolean } = {}) {
    this.dir = path.resolve(dir);
    this.pollMs = options.pollMs ?? 2000;
    this.fsWatch = options.fsWatch ?? true;
    this.events.setMaxListeners(0);
  }

  private modelDir(name: string): string {
    return path.join(this.dir, "models", name);
  }

  private versionDir(name: string, version: number): string {
    return path.join(this.modelDir(name), "versions", String(version));
  }

  private championFile(name: string): string {
    return path.join(this.dir, "champions", `${name}.json`);
  }

  /** Version numbers with a folder (including deleted and half-written ones). */
  private async claimedVersions(name: string): Promise<number[]> {
    try {
      const entries = await fs.readdir(path.join(this.modelDir(name), "versions"));
      return entries.filter((e) => /^[1-9][0-9]*$/.test(e)).map(Number).sort((a, b) => a - b);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  private readRecord(name: string, version: number): Promise<ModelVersion | undefined> {
    return readJson<ModelVersion>(path.join(this.versionDir(name, version), "version.json"));
  }

  private async requireRecord(name: string, version: number): Promise<ModelVersion> {
    checkModelName(name);
    const record = Number.isInteger(version) && version > 0 ? await this.readRecord(name, version) : undefined;
    if (!record) throw notFound(name, version);
    return record;
  }

  private writeRecord(record: ModelVersion): Promise<void> {
    return writeFileAtomic(path.join(this.versionDir(record.name, record.version), "version.json"), `${JSON.stringify(record, null, 2)}\n`);
  }

  /** Runs `change` holding the model's lock: queued within this process, a lock file between processes. */
  private withLock<T>(name: string, change: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the registry is closed"));
    const run = async () => {
      const lockFile = path.join(this.modelDir(name), ".lock");
      await fs.mkdir(this.modelDir(name), { recursive: true });
      await this.acquireLockFile(lockFile);
      try {
        return await change();
      } finally {
        await fs.rm(lockFile, { force: true });
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

  private async acquireLockFile(lockFile: string): Promise<void> {
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        await fs.writeFile(lockFile, String(process.pid), { flag: "wx" });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      // A lock left by a process that died, or held far longer than any change takes, is broken.
      const [holder, stat] = await Promise.all([fs.readFile(lockFile, "utf8").catch(() => ""), fs.stat(lockFile).catch(() => undefined)]);
      const pid = Number(holder);
      const stale = (pid > 0 && pid !== process.pid && !processAlive(pid)) || (stat !== undefined && Date.now() - stat.mtimeMs > LOCK_STALE_MS);
      if (stale) {
        await fs.rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new RegistryError("conflict", `model is locked by process ${holder || "?"} (${lockFile})`);
      await sleep(wait);
    }
  }

  private emit(event: RegistryEvent): void {
    this.events.emit(event.name, event);
    this.events.emit("*", event);
  }

  /** Call holding the model's lock: the lock is what keeps `seq` increasing across processes. */
  private async writeChampionSignal(name: string, version: number | null): Promise<ChampionSignal> {
    await fs.mkdir(path.dirname(this.championFile(name)), { recursive: true });
    const current = await readJson<ChampionSignal>(this.championFile(name));
    const signal: ChampionSignal = { version, seq: (current?.seq ?? 0) + 1, at: new Date().toISOString() };
    await writeFileAtomic(this.championFile(name), `${JSON.stringify(signal)}\n`);
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

  async register(input: RegisterInput): Promise<ModelVersion> {
    const prepared = prepareRegistration(input); // throws before anything is written
    return this.withLock(input.name, async () => {
      const version = await this.claimVersion(input.name);
      const dir = this.versionDir(input.name, version);
      const now = new Date().toISOString();
      const record: ModelVersion = { ...prepared, version, history: [{ status: "candidate", at: now }], createdAt: now, updatedAt: now };
      try {
        await writeFileAtomic(path.join(dir, "model.onnx"), input.artifact);
        await this.writeRecord(record);
      } catch (err) {
        await fs.rm(dir, { recursive: true, force: true });
        throw err;
      }
      this.emit({ type: "registered", name: record.name, version });
      return record;
    });
  }

  /** Creates the next version's folder; creating it exclusively makes the number ours even if a lock was wrongly broken. */
  private async claimVersion(name: string): Promise<number> {
    await fs.mkdir(path.join(this.modelDir(name), "versions"), { recursive: true });
    for (let version = ((await this.claimedVersions(name)).at(-1) ?? 0) + 1; ; version++) {
      try {
        await fs.mkdir(this.versionDir(name, version));
        return version;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
  }

  async list(): Promise<ModelSummary[]> {
    let names: string[];
    try {
      names = await fs.readdir(path.join(this.dir, "models"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const summaries: ModelSummary[] = [];
    for (const name of names.filter((n) => MODEL_NAME.test(n)).sort()) {
      const versions = await this.versions(name);
      if (versions.length) summaries.push(summarize(name, versions));
    }
    return summaries;
  }

  async versions(name: string): Promise<ModelVersion[]> {
    checkModelName(name);
    const records = await Promise.all((await this.claimedVersions(name)).map((v) => this.readRecord(name, v)));
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
    const bytes = new Uint8Array(await fs.readFile(path.join(this.versionDir(name, version), "model.onnx")));
    if (sha256Hex(bytes) !== record.artifact.sha256) {
      throw new Error(`artifact of ${name}@${version} is corrupt: its SHA-256 differs from the one registered`);
    }
    return bytes;
  }

  /** Where the artifact lives, for runtimes that load from a path (the bytes are checked by `readArtifact` only). */
  artifactPath(name: string, version: number): string {
    checkModelName(name);
    return path.join(this.versionDir(name, version), "model.onnx");
  }

  /**
   * Runs a change that may move the champion. Until it has emitted its own events, the folder
   * watcher stays quiet about this model, so that listeners always see a promotion as "status
   * events, then the champion event" (a watcher read finishing first would reverse that).
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
        if (this.watching) void this.checkChampionSignal(name);
      }
    }
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
  }

  private emitStatus(before: ModelVersion, after: ModelVersion): void {
    const reason = after.history.at(-1)?.reason;
    this.emit({ type: "status", name: after.name, version: after.version, status: after.status, previous: before.status, ...(reason !== undefined ? { reason } : {}) });
  }

  async setStatus(name: string, version: number, status: ModelStatus, reason?: string): Promise<ModelVersion> {
    checkStatus(status);
    if (status === "champion") return this.promote(name, version, reason);
    return this.changingChampion(name, () => this.demoteNow(name, version, status, reason));
  }

  private async demoteNow(name: string, version: number, status: Exclude<ModelStatus, "champion">, reason?: string): Promise<ModelVersion> {
    let signal: ChampionSignal | undefined;
    const { before, after } = await this.update(name, version, (r) => withStatus(r, status, new Date().toISOString(), reason), async (before) => {
      if (before.status === "champion") signal = await this.writeChampionSignal(name, null);
    });
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
      const dir = this.versionDir(name, version);
      await writeFileAtomic(path.join(dir, "deleted"), `${new Date().toISOString()}\n`);
      await fs.rm(path.join(dir, "version.json"), { force: true });
      await fs.rm(path.join(dir, "model.onnx"), { force: true });
      return record.status === "champion" ? this.writeChampionSignal(name, null) : undefined;
    });
    this.emit({ type: "deleted", name, version });
    if (signal) this.announceChampion(name, signal);
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
    const { after } = await this.update(name, version, (r) => ({ ...r, metrics: { ...r.metrics, ...metrics }, updatedAt: new Date().toISOString() }));
    return after;
  }

  async putProfile(name: string, version: number, profile: ModelProfile): Promise<ModelVersion> {
    const { after } = await this.update(name, version, (r) => ({ ...r, profile: structuredClone(profile), updatedAt: new Date().toISOString() }));
    return after;
  }

  async putValidation(name: string, version: number, report: ValidationReport): Promise<ModelVersion> {
    if (typeof report?.passed !== "boolean" || !Array.isArray(report.reasons)) {
      throw new RegistryError("invalid", "a validation report needs `passed` (boolean) and `reasons` (array)");
    }
    const now = new Date().toISOString();
    const { after } = await this.update(name, version, (r) => ({ ...r, validation: { createdAt: now, ...structuredClone(report) }, updatedAt: now }));
    return after;
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
    this.watchChampionsFolder();
    return () => {
      this.events.off(name, listener);
    };
  }

  /**
   * Champions changed by other processes (e.g. `evoflow model promote` while a server runs)
   * are seen through the champions folder, which every promotion rewrites: at once through
   * a folder watch, and by a slow poll where watches miss events (network file systems).
   */
  private watchChampionsFolder(): void {
    if (this.watching || this.closed) return;
    this.watching = true;
    const folder = path.join(this.dir, "champions");
    // Created synchronously so the watch can start now, before any model exists.
    mkdirSync(folder, { recursive: true });
    if (this.fsWatch) {
      this.championWatcher = watchDir(folder, (_event, file) => {
        const match = file && /^(.+)\.json$/.exec(String(file));
        if (match) void this.checkChampionSignal(match[1]);
      });
      this.championWatcher.on("error", () => undefined);
    }
    // Learn the current champions now (synchronously, once), so that a change made right after
    // `watch` returns is reported, with its `previous`.
    for (const file of readdirSync(folder).filter((f) => f.endsWith(".json"))) {
      const name = file.slice(0, -".json".length);
      try {
        const signal = JSON.parse(readFileSync(path.join(folder, file), "utf8")) as ChampionSignal;
        if (!this.announcedChampion.has(name)) this.announcedChampion.set(name, { version: signal.version, seq: signal.seq ?? 0 });
      } catch {
        // Unreadable signal: the next poll or watch event reads it again.
      }
    }
    this.championPoll = setInterval(() => void this.pollChampions(), this.pollMs);
    this.championPoll.unref();
  }

  private async pollChampions(): Promise<void> {
    const files = await fs.readdir(path.join(this.dir, "champions")).catch(() => [] as string[]);
    for (const file of files.filter((f) => f.endsWith(".json"))) await this.checkChampionSignal(file.slice(0, -".json".length));
  }

  private async checkChampionSignal(name: string): Promise<void> {
    if (this.ownChampionChanges.has(name)) return; // read again when that change is done
    const signal = await readJson<ChampionSignal>(this.championFile(name)).catch(() => undefined);
    if (signal && !this.closed && !this.ownChampionChanges.has(name)) this.announceChampion(name, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.championWatcher?.close();
    this.championWatcher = undefined;
    clearInterval(this.championPoll);
    this.events.removeAllListeners();
    await Promise.all([...this.queues.values()]);
  }
}
