/**
 * ModelHost: many models on one backend within a memory budget (DESIGN.md, GPU agent).
 *
 * - Models are *assigned* (their signature read from the ONNX file, or from an sklearn or
 *   python model by the backend, and the file copied into the local artifact cache,
 *   `<cacheDir>/<name>/<version>/model.onnx` (`.joblib`, `.tar`), unless the
 *   backend lays it out there in a form of its own for fast loads: `Backend.prepare`) and
 *   *resident* (loaded in the backend). More may be assigned than fit: overcommit.
 * - Memory per model is the declared figure, else an estimate: artifact size ×
 *   `memoryFactor` + `memoryOverheadBytes`. Measured RSS growth is recorded at a model's
 *   first load (`loadRssDeltaBytes`) for the operator, but not used for accounting: it is
 *   noisy (allocator caching, GC, loads running at the same time), and accounting on
 *   it would make eviction depend on timing. On this machine a CPU session of an MLP
 *   grows RSS by about 1.5–2.2× the file size plus a few MB, hence the defaults.
 *   Models in processes of their own are different: an sklearn or python model is its
 *   Python worker, whose RSS is the model's whole cost and is read from /proc without
 *   the noise of a shared heap, so it is measured (at assignment, by the worker that reads
 *   the signature, and again after each load: `LoadedModel.memoryBytes`) and accounted.
 * - A request for a model that is not resident loads it; if it does not fit, the
 *   least recently used *idle* resident model is evicted, then the next, until it
 *   fits. A model with requests in flight is never evicted: when nothing can be, the
 *   load waits for a model to become idle, up to `waitTimeoutMs`, then fails with
 *   `CapacityError`. Concurrent requests for a model being loaded share the one load.
 */
import { EventEmitter } from "node:events";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Registry } from "prom-client";
import type { Tensor } from "../sdk/ports";
import type { ModelFormat } from "../sdk/registry";
import type { Backend, LoadedModel } from "./backend";
import { BusyClock } from "./busy-clock";
import { LoadSlots } from "./load-slots";
import { modelInfo, type AssignInput, type Entry, type HostStatus, type ModelHostOptions, type ModelInfo } from "./host-types";
import { hostMetrics, registerHostMetrics, type HostMetrics } from "./host-metrics";
import { formatSize } from "./sizes";
import { cacheArtifact } from "./artifact-cache";
import { checkInputs, TensorInputError, type TensorSpec } from "./tensors";

export { ExecNotAllowedError } from "./artifact-cache";

/** The model (or version) is not assigned to this host and no source knows it: HTTP 404. */
export class ModelNotFoundError extends Error {
  override name = "ModelNotFoundError";
}

/** The model cannot be made resident: too big for the budget, or no idle model freed room in time. HTTP 503. */
export class CapacityError extends Error {
  override name = "CapacityError";
}

/** Events: `load` ({key, ms, swapInMs, at}), `evict` ({key, inFlight, for}), `unload` ({key}). */
export class ModelHost extends EventEmitter {
  readonly backend: Backend;
  readonly memoryBytes: number;
  /** Busy time of requests (not of the idle profiler's runs), for utilisation. */
  readonly busy: BusyClock;
  private readonly entries = new Map<string, Entry>();
  private readonly assigning = new Map<string, Promise<ModelInfo>>();
  /** Bytes of resident and loading models. */
  private used = 0;
  private loads = 0;
  private evictions = 0;
  private loadFailures = 0;
  private readonly recentLoadMs: number[] = [];
  /** Loads needing room run one after the other, so two never pick the same victim or overshoot together. */
  private reserveChain: Promise<void> = Promise.resolve();
  /** Woken whenever a model becomes idle or memory is freed. */
  private roomWaiters: (() => void)[] = [];
  private readonly loadSlots: LoadSlots;
  private readonly waitTimeoutMs: number;
  private readonly memoryFactor: number;
  private readonly memoryOverhead: number;
  private readonly metrics: HostMetrics;
  private closed = false;

  constructor(private readonly options: ModelHostOptions) {
    super();
    this.backend = options.backend;
    this.memoryBytes = options.memoryBytes;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 30_000;
    this.memoryFactor = options.memoryFactor ?? 2;
    this.memoryOverhead = options.memoryOverheadBytes ?? 2 * 1024 * 1024;
    this.loadSlots = new LoadSlots(Math.max(1, options.maxConcurrentLoads ?? 1));
    this.busy = new BusyClock(options.utilisationWindowMs ?? 5000);
    this.metrics = hostMetrics({
      entries: () => this.entries.values(),
      assigned: () => this.entries.size,
      usedBytes: () => this.used,
      utilisation: () => this.busy.utilisation(),
      budgetBytes: this.memoryBytes,
      cost: options.cost,
    });
  }

  /** Adds the host's metrics to a prom-client registry (the one `/metrics` serves). */
  registerMetrics(registry: Registry): void {
    registerHostMetrics(this.metrics, registry);
  }

  static key(name: string, version: number): string {
    return `${name}@${version}`;
  }

  /** Copies the artifact into the cache and reads its signature; the model is not loaded yet. Assigning it again changes nothing. */
  assign(input: AssignInput): Promise<ModelInfo> {
    const key = ModelHost.key(input.name, input.version);
    const existing = this.entries.get(key);
    if (existing) return Promise.resolve(modelInfo(existing));
    // Concurrent first requests for one model write its cache file once.
    let pending = this.assigning.get(key);
    if (!pending) {
      pending = this.assignNow(key, input).finally(() => this.assigning.delete(key));
      this.assigning.set(key, pending);
    }
    return pending;
  }

  private async assignNow(key: string, input: AssignInput): Promise<ModelInfo> {
    const { format, artifactPath, artifactBytes, signature } = await cacheArtifact(this.backend, this.options.cacheDir, input);
    const entry: Entry = {
      key, name: input.name, version: input.version, format, artifactPath, artifactBytes,
      memoryBytes: input.memoryBytes ?? signature.memoryBytes ?? Math.ceil(artifactBytes * this.memoryFactor + this.memoryOverhead),
      memoryDeclared: input.memoryBytes !== undefined,
      inputs: signature.inputs, outputs: signature.outputs, state: "cold", inFlight: 0, lastUsed: 0, loads: 0, evictions: 0, requests: 0, cpuSeconds: 0, retireWhenIdle: false,
    };
    this.entries.set(key, entry);
    return modelInfo(entry);
  }

  /** Unassigns a model: unloads it once idle and deletes its cached file. */
  async remove(name: string, version: number): Promise<boolean> {
    const entry = this.entries.get(ModelHost.key(name, version));
    if (!entry) return false;
    this.entries.delete(entry.key);
    const deadline = Date.now() + this.waitTimeoutMs;
    while ((entry.inFlight > 0 || entry.loading) && Date.now() < deadline) await this.waitForRoom(deadline, entry.key).catch(() => undefined);
    if (entry.inFlight > 0) entry.retireWhenIdle = true; // unloaded by the last request to finish
    else if (entry.state === "resident") await this.unload(entry);
    await rm(join(this.options.cacheDir, name, String(version)), { recursive: true, force: true });
    return true;
  }

  has(name: string, version: number): boolean {
    return this.entries.has(ModelHost.key(name, version));
  }

  /** Versions of `name` assigned here, ascending. */
  versionsOf(name: string): number[] {
    return [...this.entries.values()].filter((e) => e.name === name).map((e) => e.version).sort((a, b) => a - b);
  }

  /** What a request needs to know of an assigned model, without building its ModelInfo (asked per request). */
  signature(name: string, version: number): { format: ModelFormat; inputs: TensorSpec[]; outputs: TensorSpec[]; resident: boolean } | undefined {
    const e = this.entries.get(ModelHost.key(name, version));
    return e && { format: e.format, inputs: e.inputs, outputs: e.outputs, resident: e.state === "resident" };
  }

  get(name: string, version: number): ModelInfo | undefined {
    const e = this.entries.get(ModelHost.key(name, version));
    return e && modelInfo(e);
  }

  /** Assigns a model from the artifact source unless it is assigned already (ModelNotFoundError when the source has none). */
  async ensureAssigned(name: string, version: number): Promise<ModelInfo> {
    return modelInfo(await this.entryFor(name, version));
  }

  /** Assigned, or fetched from the source and assigned now. */
  private async entryFor(name: string, version: number): Promise<Entry> {
    const key = ModelHost.key(name, version);
    let entry = this.entries.get(key);
    if (entry) return entry;
    const found = await this.options.source?.(name, version);
    if (!found) throw new ModelNotFoundError(`model ${key} not found`);
    await this.assign(found instanceof Uint8Array ? { name, version, artifact: found } : { name, version, artifact: found.bytes, format: found.format, signature: found.signature });
    entry = this.entries.get(key);
    if (!entry) throw new ModelNotFoundError(`model ${key} not found`);
    return entry;
  }

  /**
   * Runs one request: makes the model resident (loading, evicting idle models, or
   * waiting for the one load in progress), then runs it. Inputs are checked against
   * the model's signature first (TensorInputError).
   */
  async infer(name: string, version: number, inputs: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    const entry = this.entries.get(ModelHost.key(name, version)) ?? (await this.entryFor(name, version));
    checkInputs(entry.inputs, inputs);
    if (outputs) {
      const unknown = outputs.filter((o) => !entry.outputs.some((s) => s.name === o));
      if (unknown.length) throw new TensorInputError(`unknown output ${unknown.map((o) => `"${o}"`).join(", ")} (the model has ${entry.outputs.map((s) => `"${s.name}"`).join(", ")})`);
    }
    // Pinned before anything is awaited, so the model cannot be chosen for eviction from here on.
    entry.inFlight++;
    entry.requests++;
    this.busy.begin();
    try {
      if (entry.state !== "resident") await this.ensureResident(entry);
      entry.lastUsed = performance.now();
      return await entry.loaded!.run(inputs, outputs, entry);
    } finally {
      this.busy.end();
      entry.lastUsed = performance.now();
      this.unpin(entry);
    }
  }

  /**
   * Runs `body` on the model made resident and pinned as a request pins it, but not counted as
   * one (the idle profiler): requests, busy time and the LRU position stay as they were.
   */
  async whileResident<T>(name: string, version: number, body: (model: LoadedModel) => Promise<T>): Promise<T> {
    const entry = await this.entryFor(name, version);
    entry.inFlight++;
    try {
      await this.ensureResident(entry);
      return await body(entry.loaded!);
    } finally {
      this.unpin(entry);
    }
  }

  /** Memory a load could have without evicting a model used in the last `hotMs`: free memory and idle models used before then. */
  coldRoomBytes(hotMs: number): number {
    const before = performance.now() - hotMs;
    let room = this.freeBytes();
    for (const e of this.entries.values()) if (e.state === "resident" && e.inFlight === 0 && e.lastUsed < before) room += e.memoryBytes;
    return room;
  }

  private unpin(entry: Entry): void {
    if (--entry.inFlight > 0) return;
    if (entry.retireWhenIdle && entry.state === "resident") void this.unload(entry).catch(() => undefined);
    this.wakeRoomWaiters();
  }

  /** Loads a model ahead of requests (e.g. on assignment by a scheduler). */
  async warm(name: string, version: number): Promise<void> {
    const entry = await this.entryFor(name, version);
    entry.inFlight++;
    try {
      await this.ensureResident(entry);
      entry.lastUsed = performance.now();
    } finally {
      this.unpin(entry);
    }
  }

  /** Unloads `name@version` as soon as no request is in flight on it (an old version after a hot swap). */
  retire(name: string, version: number): void {
    const entry = this.entries.get(ModelHost.key(name, version));
    if (!entry) return;
    entry.retireWhenIdle = true;
    if (entry.inFlight === 0 && entry.state === "resident") void this.unload(entry).catch(() => undefined);
  }

  private async ensureResident(entry: Entry): Promise<void> {
    for (;;) {
      if (this.closed) throw new CapacityError("the model host is closed");
      if (entry.state === "resident") return;
      if (entry.state === "unloading") await entry.unloading;
      else if (entry.state === "loading") await entry.loading;
      else {
        entry.state = "loading";
        entry.retireWhenIdle = false;
        entry.loading = this.load(entry).finally(() => (entry.loading = undefined));
        await entry.loading;
      }
    }
  }

  private async load(entry: Entry): Promise<void> {
    const requested = performance.now();
    try {
      await this.reserve(entry);
    } catch (err) {
      entry.state = "cold";
      throw err;
    }
    await this.loadSlots.take();
    // RSS growth at a model's first load only: later loads measure the same again, and reading it costs the event loop a /proc read twice per load.
    const measureRss = entry.loads === 0 && this.loadSlots.running === 1;
    const rssBefore = measureRss ? process.memoryUsage.rss() : 0;
    const started = performance.now();
    try {
      entry.loaded = await this.backend.load({
        key: entry.key, name: entry.name, version: entry.version, format: entry.format, artifactPath: entry.artifactPath, inputs: entry.inputs, outputs: entry.outputs,
        overcommitted: this.overcommitted(),
      });
    } catch (err) {
      entry.state = "cold";
      this.used -= entry.memoryBytes;
      this.loadFailures++;
      this.metrics.loadFailures.inc();
      this.wakeRoomWaiters();
      throw new Error(`loading model ${entry.key} failed: ${(err as Error).message}`);
    } finally {
      this.loadSlots.release();
    }
    const ms = performance.now() - started;
    this.accountMeasured(entry);
    entry.state = "resident";
    entry.loads++;
    entry.lastLoadMs = ms;
    if (measureRss) entry.loadRssDeltaBytes = process.memoryUsage.rss() - rssBefore;
    this.loads++;
    this.recentLoadMs.push(ms);
    if (this.recentLoadMs.length > 100) this.recentLoadMs.shift();
    this.metrics.loads.inc();
    this.metrics.loadSeconds.observe(ms / 1000);
    // swapInMs: from the request for the model to resident, evictions and waiting for room included.
    this.emit("load", { key: entry.key, ms, swapInMs: performance.now() - requested, at: performance.timeOrigin + performance.now() });
  }

  /** Accounts the entry's memory, evicting LRU idle models (and waiting for one to become idle) as needed. */
  private reserve(entry: Entry): Promise<void> {
    if (entry.memoryBytes > this.memoryBytes)
      return Promise.reject(new CapacityError(`model ${entry.key} needs ${formatSize(entry.memoryBytes)}, more than the agent's whole budget of ${formatSize(this.memoryBytes)}`));
    const run = this.reserveChain.then(async () => {
      const deadline = Date.now() + this.waitTimeoutMs;
      while (this.used + entry.memoryBytes > this.memoryBytes) {
        const victim = this.leastRecentlyUsedIdle();
        if (victim) await this.evict(victim, entry.key);
        else await this.waitForRoom(deadline, entry.key);
      }
      this.used += entry.memoryBytes;
    });
    this.reserveChain = run.catch(() => undefined);
    return run;
  }

  /**
   * A backend that can measure a loaded model (a Python worker's RSS) has it accounted at that
   * figure rather than the estimate, unless its memory was declared; a model that grew past the
   * budget's room evicts idle ones as a load would.
   */
  private accountMeasured(entry: Entry): void {
    const measured = entry.memoryDeclared ? undefined : entry.loaded?.memoryBytes?.();
    if (measured === undefined || measured === entry.memoryBytes) return;
    this.used += measured - entry.memoryBytes;
    entry.memoryBytes = measured;
    if (this.used <= this.memoryBytes) return;
    const trim = this.reserveChain.then(async () => {
      for (let victim = this.leastRecentlyUsedIdle(entry); victim && this.used > this.memoryBytes; victim = this.leastRecentlyUsedIdle(entry)) await this.evict(victim, entry.key);
    });
    this.reserveChain = trim.catch(() => undefined);
  }

  private async evict(victim: Entry, forKey: string): Promise<void> {
    this.evictions++;
    victim.evictions++;
    this.metrics.evictions.inc();
    this.emit("evict", { key: victim.key, inFlight: victim.inFlight, for: forKey });
    await this.unload(victim);
  }

  private leastRecentlyUsedIdle(except?: Entry): Entry | undefined {
    let best: Entry | undefined;
    for (const e of this.entries.values())
      if (e !== except && e.state === "resident" && e.inFlight === 0 && (!best || e.lastUsed < best.lastUsed)) best = e;
    return best;
  }

  private waitForRoom(deadline: number, forKey: string): Promise<void> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const busy = [...this.entries.values()].filter((e) => e.state !== "cold" && e.inFlight > 0).map((e) => `${e.key} (${e.inFlight} in flight)`);
      return Promise.reject(
        new CapacityError(`no room to load model ${forKey} within ${this.waitTimeoutMs} ms: ${formatSize(this.used)} of ${formatSize(this.memoryBytes)} used by models with requests in flight: ${busy.join(", ") || "none"}`),
      );
    }
    return new Promise((resolve) => {
      const timer = setTimeout(wake, remaining);
      const waiters = this.roomWaiters;
      function wake() {
        clearTimeout(timer);
        resolve();
      }
      waiters.push(wake);
    });
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private unload(entry: Entry): Promise<void> {
    if (entry.state !== "resident") return entry.unloading ?? Promise.resolve();
    entry.state = "unloading";
    const loaded = entry.loaded;
    entry.loaded = undefined;
    entry.unloading = (async () => {
      try {
        await loaded?.unload();
      } finally {
        this.used -= entry.memoryBytes;
        entry.state = "cold";
        entry.unloading = undefined;
        this.emit("unload", { key: entry.key });
        this.wakeRoomWaiters();
      }
    })();
    return entry.unloading;
  }

  list(): ModelInfo[] {
    return [...this.entries.values()].map((e) => modelInfo(e));
  }

  /** Memory not taken by resident or loading models. */
  freeBytes(): number {
    return this.memoryBytes - this.used;
  }

  /** Memory of every assigned model: may exceed the budget (overcommit). */
  assignedBytes(): number {
    let sum = 0;
    for (const e of this.entries.values()) sum += e.memoryBytes;
    return sum;
  }

  /** More models assigned than the budget holds: the host swaps them. */
  overcommitted(): boolean {
    return this.assignedBytes() > this.memoryBytes;
  }

  status(): HostStatus {
    const models = this.list();
    return {
      backend: this.backend.kind, device: this.backend.device, memoryBytes: this.memoryBytes, usedBytes: this.used, freeBytes: this.freeBytes(),
      assigned: models.length, assignedBytes: this.assignedBytes(),
      resident: models.filter((m) => m.state === "resident").map((m) => `${m.name}@${m.version}`),
      utilisation: this.busy.utilisation(), loads: this.loads, evictions: this.evictions, loadFailures: this.loadFailures, recentLoadMs: [...this.recentLoadMs], models,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeRoomWaiters();
    for (const e of this.entries.values()) if (e.state === "resident") await this.unload(e).catch(() => undefined);
    await this.backend.close();
  }
}
