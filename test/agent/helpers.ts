/**
 * Shared pieces of the agent tests: seeded MLP fixtures with their JS reference, a
 * backend wrapper that watches the real onnxruntime backend (runs in progress per
 * model, unloads) and can hold runs at a gate, and tolerance checks.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend, LoadedModel, LoadRequest } from "../../gpu-agent/backend";
import { makeMlp, randomFloats, type MlpFixture } from "../fixtures/mlp";

/**
 * The environment for a child process in which onnxruntime's telemetry is on unless Evoflow
 * turns it off: a home folder of its own, where onnxruntime keeps its telemetry store, and
 * none of the variables by which onnxruntime turns its telemetry off itself in CI (its list,
 * read from libonnxruntime 1.30), nor ORT_DISABLE_TELEMETRY.
 */
export function telemetryTestEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const name of ["ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER"]) delete env[name];
  return env;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `evoflow-${prefix}-`));
}

/** `count` MLPs of the same shape with different weights: each model answers differently. */
export function mlpFamily(count: number, sizes = [8, 16, 4]): MlpFixture[] {
  return Array.from({ length: count }, (_, i) => makeMlp({ sizes, seed: 100 + i }));
}

export function sampleInput(mlp: MlpFixture, batch: number, seed: number): Float32Array {
  return randomFloats(batch * mlp.sizes[0], seed);
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  if (actual.length !== expected.length) throw new Error(`got ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tolerance * Math.max(1, Math.abs(expected[i])))
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/** Delegates to a real backend; records violations (unload during a run) and can hold runs until released. */
export class WatchedBackend implements Backend {
  readonly kind;
  readonly running = new Map<string, number>();
  readonly violations: string[] = [];
  readonly unloads: string[] = [];
  readonly loadRequests: LoadRequest[] = [];
  private gate?: Promise<void>;
  private openGate?: () => void;

  constructor(private readonly inner: Backend) {
    this.kind = inner.kind;
  }

  get device(): string {
    return this.inner.device;
  }

  /** Runs started from now on wait until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async prepare(artifactPath: string, bytes: Uint8Array): Promise<boolean> {
    return (await this.inner.prepare?.(artifactPath, bytes)) ?? false;
  }

  async load(request: LoadRequest): Promise<LoadedModel> {
    this.loadRequests.push(request);
    const model = await this.inner.load(request);
    const key = request.key;
    return {
      run: async (inputs, outputs) => {
        this.running.set(key, (this.running.get(key) ?? 0) + 1);
        try {
          if (this.gate) await this.gate;
          return await model.run(inputs, outputs);
        } finally {
          this.running.set(key, this.running.get(key)! - 1);
        }
      },
      unload: async () => {
        if ((this.running.get(key) ?? 0) > 0) this.violations.push(`${key} unloaded with ${this.running.get(key)} runs in progress`);
        this.unloads.push(key);
        await model.unload();
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Zipf-distributed index in [0, n): rank k has weight 1/(k+1)^s. */
export function zipfSampler(n: number, s: number, rand: () => number): () => number {
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) cumulative.push((acc += w / total));
  return () => {
    const r = rand();
    const i = cumulative.findIndex((c) => r < c);
    return i < 0 ? n - 1 : i;
  };
}

/** A real nats-server child process on a free loopback port, JetStream on, storage in a temp folder. */
export async function startNatsServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const { spawn } = await import("node:child_process");
  const { createServer } = await import("node:net");
  const { existsSync } = await import("node:fs");
  const port = await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const binary = process.env.NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
  const child = spawn(binary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", tempDir("nats")], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Server is ready")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`nats-server exited (${code}):\n${output}`)));
    child.once("error", reject);
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** State (R running, S sleeping…), policy and nice value of every thread of this process, from /proc/self/task/<tid>/stat. */
export function threads(): { tid: number; state: string; policy: number; nice: number; name: string }[] {
  const out = [];
  for (const tid of readdirSync("/proc/self/task")) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.push({ tid: Number(tid), state: fields[0], nice: Number(fields[19 - 3]), policy: Number(fields[41 - 3]), name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) });
  }
  return out;
}

/** Calls `watch` between event-loop turns until `work` settles; returns what `watch` saw. */
export async function watchWhile<T>(work: Promise<unknown>, watch: () => T[]): Promise<T[]> {
  let done = false;
  const settled = work.finally(() => (done = true));
  const seen: T[] = [];
  while (!done) {
    seen.push(...watch());
    await new Promise((r) => setImmediate(r));
  }
  await settled;
  return seen;
}
