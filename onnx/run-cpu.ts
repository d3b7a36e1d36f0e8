/**
 * CPU seconds of one onnxruntime run.
 *
 * onnxruntime-node runs a session synchronously inside a setImmediate callback it schedules
 * when `session.run` is called (onnxruntime-node/dist/backend.js; onnxruntime-common calls it
 * before its first await). Immediates run in the order they were scheduled, so one scheduled
 * just before the call and one just after bracket exactly that run, even when other requests'
 * runs interleave on the same event loop. The clock is getrusage (`process.cpuUsage()`, ~1 µs):
 * it counts the whole process, so another thread's work at that moment (a run in another session
 * worker, GC helpers) is counted too. Linux's per-thread clock that Node can read
 * (/proc/thread-self/schedstat) is only brought up to date at scheduler ticks: measured here at
 * 215 µs for a 50 µs spin, useless for small models (Node 20 has no process.threadCpuUsage).
 * With the agent's default of one intra-op thread the run is all on this thread; with more, the
 * pool threads' work is counted as it happens at the same time. ort-worker.mjs, plain
 * JavaScript, carries the same few lines.
 */
import { ort } from "./ort";
import { inputTensor } from "./profile";
import { readSignature } from "./signature";

function cpuMicroseconds(): number {
  const used = process.cpuUsage();
  return used.user + used.system;
}

/** `start()` runs the session; resolves with its result and the CPU seconds the run took. */
export function measuredRun<T>(start: () => Promise<T>): Promise<{ result: T; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    let from = 0;
    setImmediate(() => (from = cpuMicroseconds()));
    const running = start();
    setImmediate(() => {
      const cpuSeconds = (cpuMicroseconds() - from) / 1e6;
      running.then((result) => resolve({ result, cpuSeconds }), reject);
    });
  });
}

function interquartileMean(values: Float64Array): number {
  const sorted = values.slice().sort();
  const middle = sorted.subarray(Math.floor(sorted.length / 4), Math.max(Math.floor(sorted.length / 4) + 1, Math.ceil((sorted.length * 3) / 4)));
  return middle.reduce((a, b) => a + b, 0) / middle.length;
}

/**
 * CPU seconds of the typical run at batch size 1 of each model (after `warmup` runs each), their
 * runs alternating one by one, each bracketed alone: JavaScript served meanwhile on this thread
 * does not count, and whatever else slows the machine (other processes on the cores, clock
 * changes) falls on every model alike, so a candidate and its champion compare fairly. The mean
 * of the middle half of the runs, not of all: a GC or another thread's burst landing in one
 * bracket costs 3–4× a small model's run, and with plain means two models of one shape measured
 * 0.22–1.53× each other (5 rounds of 200 runs); a median would round to getrusage's microsecond.
 */
export async function cpuSecondsPerRun(models: Uint8Array[], runs: number, warmup = 20): Promise<number[]> {
  const sessions: Awaited<ReturnType<typeof ort.InferenceSession.create>>[] = [];
  try {
    for (const bytes of models) sessions.push(await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"], intraOpNumThreads: 1 }));
    const feeds = models.map((bytes) => Object.fromEntries(readSignature(bytes).inputs.map((input) => [input.name, inputTensor(input, 1, {})])));
    for (let i = 0; i < warmup; i++) for (const [m, session] of sessions.entries()) await session.run(feeds[m]);
    const perRun = models.map(() => new Float64Array(runs));
    const order = models.map((_, m) => m);
    for (let i = 0; i < runs; i++) {
      // The first run after the loop's await measured ~30% dearer: each model goes first in turn.
      for (const m of i % 2 ? [...order].reverse() : order) perRun[m][i] = (await measuredRun(() => sessions[m].run(feeds[m]))).cpuSeconds;
    }
    return perRun.map(interquartileMean);
  } finally {
    for (const session of sessions) await session.release();
  }
}
