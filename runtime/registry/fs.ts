/**
 * File-system registry backend, the embedded default: one data folder, safe to share between
 * processes on one machine (the CLI promoting while a server serves).
 *
 *   <dir>/models/<name>/versions/<n>/model.onnx     the artifact  (this name whatever its format: the record's artifact.format says what it is)
 *   <dir>/models/<name>/versions/<n>/version.json   the record (written last: a version exists once it is there)
 *   <dir>/models/<name>/versions/<n>/deleted        tombstone, so numbers are never reused
 *   <dir>/models/<name>/.lock                       held while a process changes the model
 *   <dir>/champions/<name>.json                     the current champion, a signal other processes watch
 *
 * Every file is written to a temporary name, flushed, then renamed: readers never see half a file.
 */
import { type FSWatcher, mkdirSync, readdirSync, readFileSync, watch as watchDir } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { writeFileAtomic } from "../files";
import { BaseModelRegistry, type ChampionSignal } from "./base";
import { prepareRegistration, sha256Hex, summarize } from "./records";
import { checkModelName, MODEL_NAME, RegistryError, type ModelSummary, type ModelVersion, type RegisterInput } from "../../sdk/registry";

/** `EVOFLOW_REGISTRY`, or `.evoflow/registry` under the working directory. */
export function defaultRegistryDir(): string {
  return path.resolve(process.env.EVOFLOW_REGISTRY || ".evoflow/registry");
}

const LOCK_STALE_MS = 30_000;
const LOCK_TIMEOUT_MS = 15_000;

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

export class FsModelRegistry extends BaseModelRegistry {
  readonly dir: string;
  private championWatcher?: FSWatcher;
  private championPoll?: NodeJS.Timeout;
  private readonly pollMs: number;
  private readonly fsWatch: boolean;
  private watching = false;

  /**
   * `pollMs`: how often watchers re-read the champions folder in case the file-system watch
   * missed a change (default 2 s). `fsWatch: false` relies on the poll alone, for file systems
   * whose change notifications do not work (some network mounts).
   */
  constructor(dir: string = defaultRegistryDir(), options: { pollMs?: number; fsWatch?: boolean } = {}) {
    super();
    this.dir = path.resolve(dir);
    this.pollMs = options.pollMs ?? 2000;
    this.fsWatch = options.fsWatch ?? true;
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

  protected readRecord(name: string, version: number): Promise<ModelVersion | undefined> {
    return readJson<ModelVersion>(path.join(this.versionDir(name, version), "version.json"));
  }

  protected writeRecord(record: ModelVersion): Promise<void> {
    return writeFileAtomic(path.join(this.versionDir(record.name, record.version), "version.json"), `${JSON.stringify(record, null, 2)}\n`);
  }

  /** A lock file between processes, broken when its holder died or held it far too long. */
  protected async acquireLock(name: string): Promise<() => Promise<void>> {
    const lockFile = path.join(this.modelDir(name), ".lock");
    await fs.mkdir(this.modelDir(name), { recursive: true });
    await this.acquireLockFile(lockFile);
    return () => fs.rm(lockFile, { force: true });
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
      // An empty lock file a second old belongs to a process killed between creating it and writing its pid.
      const age = stat ? Date.now() - stat.mtimeMs : 0;
      const stale = (pid > 0 && pid !== process.pid && !processAlive(pid)) || age > LOCK_STALE_MS || (holder === "" && age > 1000);
      if (stale) {
        await fs.rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new RegistryError("conflict", `model is locked by process ${holder || "?"} (${lockFile})`);
      await sleep(wait);
    }
  }

  /** `champions/<name>.json`, with the time it was written for people reading the folder. */
  protected async writeChampionSignal(name: string, version: number | null): Promise<ChampionSignal> {
    await fs.mkdir(path.dirname(this.championFile(name)), { recursive: true });
    const current = await this.readChampionSignal(name);
    const signal = { version, seq: (current?.seq ?? 0) + 1, at: new Date().toISOString() };
    await writeFileAtomic(this.championFile(name), `${JSON.stringify(signal)}\n`);
    return signal;
  }

  protected readChampionSignal(name: string): Promise<ChampionSignal | undefined> {
    return readJson<ChampionSignal>(this.championFile(name));
  }

  /** A tombstone keeps the number used. */
  protected async removeVersion(name: string, version: number): Promise<void> {
    const dir = this.versionDir(name, version);
    await writeFileAtomic(path.join(dir, "deleted"), `${new Date().toISOString()}\n`);
    await fs.rm(path.join(dir, "version.json"), { force: true });
    await fs.rm(path.join(dir, "model.onnx"), { force: true });
  }

  protected followsOthers(): boolean {
    return this.watching;
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
    const valid = names.filter((n) => MODEL_NAME.test(n)).sort();
    const summaries: ModelSummary[] = [];
    // 64 models at a time: libuv's threads read in parallel (10,000 one by one took seconds),
    // without thousands of files open at once.
    for (let i = 0; i < valid.length; i += 64) {
      const batch = await Promise.all(valid.slice(i, i + 64).map(async (name) => ({ name, versions: await this.versions(name) })));
      for (const { name, versions } of batch) if (versions.length) summaries.push(summarize(name, versions));
    }
    return summaries;
  }

  async versions(name: string): Promise<ModelVersion[]> {
    checkModelName(name);
    const records = await Promise.all((await this.claimedVersions(name)).map((v) => this.readRecord(name, v)));
    return records.filter((r): r is ModelVersion => r !== undefined);
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
   * Champions changed by other processes (e.g. `evoflow model promote` while a server runs)
   * are seen through the champions folder, which every promotion rewrites: at once through
   * a folder watch, and by a slow poll where watches miss events (network file systems).
   */
  protected override startFollowing(): void {
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

  /** The champions folder's mtime at the last poll that read it. */
  private polledMtimeMs = -1;

  private async pollChampions(): Promise<void> {
    const folder = path.join(this.dir, "champions");
    // Every promotion renames a file into the folder, changing its mtime: an unchanged folder is
    // skipped (with 10,000 models a poll read 10,000 files every 2 s), unless it changed so recently
    // that a file system with coarse timestamps could hide a second change in the same tick.
    const mtimeMs = (await fs.stat(folder).catch(() => undefined))?.mtimeMs;
    if (mtimeMs === undefined) return;
    if (mtimeMs === this.polledMtimeMs && Date.now() - mtimeMs > 2000) return;
    this.polledMtimeMs = mtimeMs;
    const files = await fs.readdir(folder).catch(() => [] as string[]);
    for (const file of files.filter((f) => f.endsWith(".json"))) await this.checkChampionSignal(file.slice(0, -".json".length));
  }

  async close(): Promise<void> {
    this.championWatcher?.close();
    this.championWatcher = undefined;
    clearInterval(this.championPoll);
    await this.closeQueues();
  }
}
