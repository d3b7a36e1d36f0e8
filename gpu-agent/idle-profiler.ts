/**
 * Idle-aware profiling (after MLModelCI's controller, which profiles only while the device is
 * idle): registered models without a profile are measured on this agent — p50/p95/p99 latency
 * and throughput per batch size, on inputs generated from the model's signature — only while
 * the agent's utilisation (`BusyClock`: busy time over a window) is under `idleBelow` and no
 * request is in flight. It pauses at the first run boundary after a request arrives, drops the
 * run the request arrived during (the two shared the machine), and goes on as soon as the last
 * request has ended, so a light load of short requests leaves it most of the time and a load
 * over the threshold none. The profile goes to the registry version, where the model card shows it.
 *
 * It runs through the host, so the memory budget holds: a model is pinned while it is measured
 * (never evicted mid-run) and unpinned when paused; resident models are profiled first, then
 * those that fit without evicting a model used in the last `hotMs`; one loaded only to be
 * profiled is unloaded after. Loads go through the backend's load priority (nice 19 / idle
 * class in session workers, `--load-priority`).
 */
import * as os from "node:os";
import { Counter, Gauge, type Registry } from "prom-client";
import type { ModelRegistry, BatchProfile, ModelProfile } from "../sdk/registry";
import type { Tensor } from "../sdk/ports";
import { TYPED_ARRAY } from "../sdk/tensor-bytes";
import type { ModelHost } from "./host";
import type { TensorSpec } from "./tensors";
import { batchProfile } from "../onnx/profile";

export type ProfilerState = "idle" | "profiling" | "paused";

export interface IdleProfilerOptions {
  host: ModelHost;
  registry: ModelRegistry;
  /** Utilisation under which it profiles, 0…1 (default 0.4). */
  idleBelow?: number;
  /** Default 1, 8, 32; a model with a fixed batch dimension gets that size only. */
  batchSizes?: number[];
  /** Runs discarded before timing, per batch size (default 3). */
  warmupRuns?: number;
  /** Timed runs per batch size: at least `minRuns` (default 50) and for at least `durationMs` (default 500). */
  minRuns?: number;
  durationMs?: number;
  /** A model used this recently is hot: no load for profiling evicts it (default 60 s). */
  hotMs?: number;
  /** How often it looks again while paused or waiting (default 200 ms), and at the registry for new models (default 2 s). */
  pollMs?: number;
  rescanMs?: number;
  /** Said in the stored profile: who measured it. */
  agentId?: string;
  log?: (message: string) => void;
}

export interface ProfilerStatus {
  state: ProfilerState;
  idleBelow: number;
  utilisation: number;
  /** Why it is paused or idle with work left (load, no room). */
  reason?: string;
  /** The model being measured (or paused in), `name@version`. */
  current?: string;
  profiled: number;
  left: number;
  /** Model runs it has made, warm-up included: a test sees it stand still while paused. */
  runs: number;
  pauses: number;
  failed: Record<string, string>;
}

interface Target {
  name: string;
  version: number;
}

/** Values in [-1, 1] (integers 0): shape and dtype decide the speed, the values only keep the maths finite. */
function generated(spec: TensorSpec, batchSize: number): Tensor {
  if (spec.dtype === "string") throw new Error(`input "${spec.name}" is a string tensor: the profiler generates numeric inputs only`);
  const shape = spec.shape.map((d, i) => (i === 0 ? batchSize : d === -1 ? 1 : d));
  const data = new TYPED_ARRAY[spec.dtype](shape.reduce((a, b) => a * b, 1));
  if (data instanceof Float32Array || data instanceof Float64Array) for (let i = 0; i < data.length; i++) data[i] = Math.sin(i);
  return { dtype: spec.dtype, shape, data };
}

/** The batch sizes an input signature allows: a fixed first dimension allows only itself, a scalar input only 1. */
function batchSizesFor(inputs: TensorSpec[], wanted: number[]): number[] {
  const fixed = inputs.map((s) => (s.shape.length === 0 ? 1 : s.shape[0])).find((d) => d !== -1);
  return fixed === undefined ? wanted : [fixed];
}

export class IdleProfiler {
  private state: ProfilerState = "idle";
  private reason?: string;
  private current?: Target;
  /** Batch sizes measured so far of the model paused in, and what is timed of the one it paused in. */
  private partial: BatchProfile[] = [];
  private batch?: { batchSize: number; latencies: number[]; timedMs: number; cpuSeconds: number; rssStart: number; peakRss: number };
  private startedResident = false;
  private requestsBefore = 0;
  private profiled = 0;
  private left = 0;
  private runs = 0;
  private pauses = 0;
  private readonly failed = new Map<string, string>();
  private queue: Target[] = [];
  private lastScan = -Infinity;
  private stopped = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly host: ModelHost;
  private readonly idleBelow: number;

  constructor(private readonly options: IdleProfilerOptions) {
    this.host = options.host;
    this.idleBelow = options.idleBelow ?? 0.4;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** Its state and counts in the registry `/metrics` serves, under `evoflow_agent_profiler_`. */
  registerMetrics(registry: Registry): void {
    const profiler = this;
    const counted = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
    new Gauge({
      name: "evoflow_agent_profiler_state", help: "The idle profiler's state: 1 for the current one (idle, profiling, paused)", labelNames: ["state"], registers: [registry],
      collect() { for (const s of ["idle", "profiling", "paused"] as const) this.set({ state: s }, profiler.state === s ? 1 : 0); },
    });
    new Gauge({ name: "evoflow_agent_profiler_models_left", help: "Registered models the idle profiler has still to profile", registers: [registry], collect() { this.set(profiler.left); } });
    counted("evoflow_agent_profiler_models_profiled_total", "Models the idle profiler profiled", () => this.profiled);
    counted("evoflow_agent_profiler_runs_total", "Model runs of the idle profiler, warm-up included", () => this.runs);
    counted("evoflow_agent_profiler_pauses_total", "Times the idle profiler paused mid-model for requests or load", () => this.pauses);
  }

  status(): ProfilerStatus {
    return {
      state: this.state, idleBelow: this.idleBelow, utilisation: this.host.busy.utilisation(), reason: this.reason,
      current: this.current && `${this.current.name}@${this.current.version}`,
      profiled: this.profiled, left: this.left, runs: this.runs, pauses: this.pauses, failed: Object.fromEntries(this.failed),
    };
  }

  /** Load over the threshold or a request in flight: the reason not to run now, else undefined. */
  private loaded(): string | undefined {
    const busy = this.host.busy;
    if (busy.inFlight > 0) return `${busy.inFlight} request(s) in flight`;
    const u = busy.utilisation();
    return u >= this.idleBelow ? `utilisation ${(u * 100).toFixed(0)}% ≥ ${(this.idleBelow * 100).toFixed(0)}%` : undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        this.options.log?.(`idle profiler: ${(err as Error).message}`);
        await this.sleep(this.options.rescanMs ?? 2000);
      }
    }
  }

  private async step(): Promise<void> {
    if (performance.now() - this.lastScan >= (this.options.rescanMs ?? 2000)) await this.scan();
    if (!this.queue.length) return this.rest("idle", undefined, this.options.rescanMs ?? 2000);
    const load = this.loaded();
    if (load) return this.rest("paused", load);
    const target = await this.pick();
    if (!target) return this.rest("idle", "no model left to profile fits without evicting a model used recently");
    await this.profile(target);
  }

  private async rest(state: ProfilerState, reason: string | undefined, ms = this.options.pollMs ?? 200): Promise<void> {
    this.state = state;
    this.reason = reason;
    // Paused for requests in flight: on again as soon as the last one ends, not a poll later.
    if (state === "paused" && this.host.busy.inFlight > 0) void this.host.busy.whenIdle().then(() => this.wake?.());
    await this.sleep(ms);
  }

  /** Registered ONNX versions, candidates and champions, with no profile yet. */
  private async scan(): Promise<void> {
    const { registry } = this.options;
    const queue: Target[] = [];
    for (const model of await registry.list())
      for (const v of await registry.versions(model.name))
        if (!v.profile && (v.status === "candidate" || v.status === "champion") && (v.artifact.format ?? "onnx") === "onnx" && !this.failed.has(`${v.name}@${v.version}`))
          queue.push({ name: v.name, version: v.version });
    this.queue = queue;
    this.left = queue.length;
    this.lastScan = performance.now();
  }

  /** The model paused in, else a resident one, else one that fits without evicting a hot model. */
  private async pick(): Promise<Target | undefined> {
    const current = this.current;
    if (current && this.queue.some((t) => t.name === current.name && t.version === current.version)) return current;
    const resident = this.queue.find((t) => this.host.get(t.name, t.version)?.state === "resident");
    if (resident) return resident;
    const room = this.host.coldRoomBytes(this.options.hotMs ?? 60_000);
    for (const t of this.queue) if ((await this.host.ensureAssigned(t.name, t.version)).memoryBytes <= room) return t;
    return undefined;
  }

  private async profile(target: Target): Promise<void> {
    const key = `${target.name}@${target.version}`;
    const info = await this.host.ensureAssigned(target.name, target.version);
    if (this.current?.name !== target.name || this.current.version !== target.version) {
      this.current = target;
      this.partial = [];
      this.batch = undefined;
      this.startedResident = info.state === "resident";
      this.requestsBefore = info.requests;
    }
    this.state = "profiling";
    this.reason = undefined;
    try {
      for (const batchSize of batchSizesFor(info.inputs, this.options.batchSizes ?? [1, 8, 32]).slice(this.partial.length)) {
        const measured = await this.measure(target, info.inputs, batchSize);
        if (!measured) {
          // Paused: it goes on with this batch size once idle.
          this.pauses++;
          this.state = "paused";
          return;
        }
        this.partial.push(measured);
      }
    } catch (err) {
      this.failed.set(key, (err as Error).message);
      this.options.log?.(`idle profiler: ${key} not profiled: ${(err as Error).message}`);
      this.finish(target);
      return;
    }
    await this.options.registry.putProfile(target.name, target.version, this.profileOf(target));
    this.profiled++;
    this.options.log?.(`idle profiler: profiled ${key}`);
    this.finish(target);
  }

  private finish(target: Target): void {
    const now = this.host.get(target.name, target.version);
    // Loaded only to be profiled and untouched by requests since: the room goes back.
    if (!this.startedResident && now && now.requests === this.requestsBefore && now.inFlight === 0) this.host.retire(target.name, target.version);
    this.current = undefined;
    this.partial = [];
    this.batch = undefined;
    this.queue = this.queue.filter((t) => t.name !== target.name || t.version !== target.version);
    this.left = this.queue.length;
  }

  /**
   * One batch size, or undefined when a request arrived or the load rose before it was done:
   * what is timed so far is kept (`this.batch`) and it goes on from there once idle. The run a
   * request arrived during is not counted (the request shared the machine with it), and after a
   * pause one untimed run warms the session again (the request's model may have taken the caches).
   */
  private measure(target: Target, specs: TensorSpec[], batchSize: number): Promise<BatchProfile | undefined> {
    const minRuns = this.options.minRuns ?? 50;
    const durationMs = this.options.durationMs ?? 500;
    const inputs = Object.fromEntries(specs.map((s) => [s.name, generated(s, batchSize)]));
    const busy = this.host.busy;
    const fresh = this.batch?.batchSize !== batchSize;
    const b = fresh ? (this.batch = { batchSize, latencies: [], timedMs: 0, cpuSeconds: 0, rssStart: process.memoryUsage.rss(), peakRss: 0 }) : this.batch!;
    return this.host.whileResident(target.name, target.version, async (model) => {
      const requestsSeen = busy.started;
      const interrupted = () => this.stopped || busy.started !== requestsSeen || this.loaded() !== undefined;
      for (let i = 0; i < (fresh ? (this.options.warmupRuns ?? 3) : 1); i++) {
        if (interrupted()) return undefined;
        this.runs++;
        await model.run(inputs);
      }
      while (b.latencies.length < minRuns || b.timedMs < durationMs) {
        if (interrupted()) return undefined;
        this.runs++;
        const cpuStart = process.cpuUsage();
        const t0 = performance.now();
        await model.run(inputs);
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpuStart);
        if (interrupted()) return undefined;
        b.latencies.push(ms);
        b.timedMs += ms;
        b.cpuSeconds += (cpu.user + cpu.system) / 1e6;
        if (b.latencies.length % 16 === 0) b.peakRss = Math.max(b.peakRss, process.memoryUsage.rss());
      }
      this.batch = undefined;
      const rssEnd = process.memoryUsage.rss();
      // Throughput over the runs' own time: a batch size may be timed in pieces between requests.
      return batchProfile(batchSize, b.latencies, b.timedMs, b.cpuSeconds, { rssDeltaBytes: rssEnd - b.rssStart, peakRssBytes: Math.max(b.peakRss, rssEnd) });
    });
  }

  private profileOf(target: Target): ModelProfile {
    const info = this.host.get(target.name, target.version);
    const cpus = os.cpus();
    return {
      runtime: this.host.backend.kind,
      executionProvider: this.host.backend.device,
      warmupBatches: this.options.warmupRuns ?? 3,
      durationSeconds: (this.options.durationMs ?? 500) / 1000,
      loadRssDeltaBytes: info?.loadRssDeltaBytes ?? 0,
      loadMs: info?.lastLoadMs ?? 0,
      results: this.partial,
      host: { platform: process.platform, arch: process.arch, cpus: cpus.length, cpuModel: cpus[0]?.model ?? "unknown", node: process.version },
      measuredBy: `idle profiler of agent${this.options.agentId ? ` ${this.options.agentId}` : ""} (utilisation under ${(this.idleBelow * 100).toFixed(0)}%)`,
      createdAt: new Date().toISOString(),
    };
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
