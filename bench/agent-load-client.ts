/**
 * Load generator for the agent and sync-path benchmarks, run as a child process
 * (`fork`) so it does not share an event loop with the server under test. A closed
 * loop: `concurrency` workers each send one request, wait for the answer, send the
 * next, over keep-alive HTTP connections on loopback, until `durationMs` or
 * `maxRequests`. Bounded in count and time. The target of each request is picked
 * round-robin or from a Zipf distribution (seeded).
 *
 * The child says "ready", the parent sends one LoadPlan, the child answers with
 * LoadResult and exits.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { seededRandom } from "../runtime/random";

export interface LoadTarget {
  path: string;
  /** JSON body, sent as is. */
  body: string;
}

export interface LoadPlan {
  url: string;
  targets: LoadTarget[];
  pick: "round" | "zipf";
  zipfS?: number;
  seed?: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  maxRequests: number;
}

export interface LoadResult {
  /** Per measured request: start and end (ms since the epoch, sub-ms), target index, HTTP status. */
  start: number[];
  end: number[];
  target: number[];
  status: number[];
  elapsedMs: number;
  /** Requests sent during the warm-up (not in the arrays above). */
  warmupRequests: number;
  peakRssBytes: number;
}


function picker(plan: LoadPlan): () => number {
  const n = plan.targets.length;
  if (plan.pick === "round") {
    let i = 0;
    return () => i++ % n;
  }
  const rand = seededRandom(plan.seed ?? 1);
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** (plan.zipfS ?? 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  const cumulative = weights.map((w) => (acc += w / total));
  return () => {
    const r = rand();
    const i = cumulative.findIndex((c) => r < c);
    return i < 0 ? n - 1 : i;
  };
}

/** VmHWM: this process's peak resident set (getrusage's maxrss would include the parent's, from before exec). */
function peakRss(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return kb ? Number(kb[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

const now = () => performance.timeOrigin + performance.now();

function send(agent: Agent, url: URL, target: LoadTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: target.path, method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(target.body) } },
      (res) => {
        res.on("data", () => undefined);
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(target.body);
  });
}

async function run(plan: LoadPlan): Promise<LoadResult> {
  const url = new URL(plan.url);
  const agent = new Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const pick = picker(plan);
  const result: LoadResult = { start: [], end: [], target: [], status: [], elapsedMs: 0, warmupRequests: 0, peakRssBytes: 0 };
  const warmupEnd = now() + plan.warmupMs;
  const stopAt = warmupEnd + plan.durationMs;
  let measured = 0;
  const worker = async () => {
    while (now() < stopAt && measured < plan.maxRequests) {
      const target = pick();
      const t0 = now();
      let status: number;
      try {
        status = await send(agent, url, plan.targets[target]);
      } catch {
        status = 0;
      }
      const t1 = now();
      if (t0 >= warmupEnd) {
        measured++;
        result.start.push(t0);
        result.end.push(t1);
        result.target.push(target);
        result.status.push(status);
      } else result.warmupRequests++;
    }
  };
  const begun = now();
  await Promise.all(Array.from({ length: plan.concurrency }, worker));
  result.elapsedMs = now() - Math.max(begun, warmupEnd);
  agent.destroy();
  result.peakRssBytes = peakRss();
  return result;
}

if (process.send) {
  process.once("message", (plan: LoadPlan) => {
    void run(plan).then((r) => process.send!(r, () => process.exit(0)));
  });
  process.on("disconnect", () => process.exit(0));
  // Only now can the plan be received: say so (messages sent earlier would be lost).
  process.send("ready");
}
