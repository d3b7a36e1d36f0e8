/**
 * Load generator for the agent and sync-path benchmarks, run as a child process
 * (`fork`) so it does not share an event loop with the server under test. A closed
 * loop: `concurrency` workers each send one request, wait for the answer, send the
 * next, over keep-alive HTTP connections on loopback, until `durationMs` or
 * `maxRequests`. Bounded in count and time. The target of each request is picked
 * round-robin, from a Zipf distribution (seeded), or by turns: each target alone for
 * `turnMs` in turn, so that servers compared in one run share the machine's changing
 * load evenly.
 *
 * The child says "ready", the parent sends one LoadPlan, the child answers with
 * LoadResult and exits.
 */
import { peakRss } from "./agent-bench-lib";
import { Agent, request } from "node:http";
import { seededRandom } from "../sdk/random";

export interface LoadTarget {
  /** Server of this target, when not the plan's. */
  url?: string;
  path: string;
  /** JSON body, sent as is. */
  body: string;
  /** More request headers (an Authorization token). */
  headers?: Record<string, string>;
}

export interface LoadPlan {
  url: string;
  targets: LoadTarget[];
  pick: "round" | "zipf" | "turns";
  zipfS?: number;
  seed?: number;
  /**
   * With "turns": how long each target's turn lasts, and how much of its start is not
   * measured (the server's caches are cold after the others' turns). Each cycle of turns
   * starts one target further along, so every target follows every other.
   */
  turnMs?: number;
  settleMs?: number;
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
  /** Requests sent during the warm-up or a turn's settling (not in the arrays above). */
  warmupRequests: number;
  /** Every request sent, measured or not, per target. */
  sentByTarget: number[];
  /** When the load began (ms since the epoch): turns are counted from here. */
  begunAt: number;
  peakRssBytes: number;
}


const turnMs = (plan: LoadPlan) => plan.turnMs ?? 1000;

/** Picks the target of a request sent `sinceMs` after the load began. */
function picker(plan: LoadPlan): (sinceMs: number) => number {
  const n = plan.targets.length;
  if (plan.pick === "turns") {
    return (sinceMs) => {
      const turn = Math.floor(sinceMs / turnMs(plan));
      return ((turn % n) + Math.floor(turn / n)) % n;
    };
  }
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


const now = () => performance.timeOrigin + performance.now();

function send(agent: Agent, url: URL, target: LoadTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: target.path, method: "POST", headers: { ...target.headers, "content-type": "application/json", "content-length": Buffer.byteLength(target.body) } },
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
  const servers = plan.targets.map((t) => new URL(t.url ?? plan.url));
  const agents = new Map(servers.map((u) => [u.host, new Agent({ keepAlive: true, maxSockets: plan.concurrency })]));
  const pick = picker(plan);
  const settling = (sinceMs: number) => plan.pick === "turns" && sinceMs % turnMs(plan) < (plan.settleMs ?? 0);
  const begun = now();
  const result: LoadResult = { start: [], end: [], target: [], status: [], elapsedMs: 0, warmupRequests: 0, sentByTarget: plan.targets.map(() => 0), begunAt: begun, peakRssBytes: 0 };
  const warmupEnd = begun + plan.warmupMs;
  const stopAt = warmupEnd + plan.durationMs;
  let measured = 0;
  const worker = async () => {
    while (now() < stopAt && measured < plan.maxRequests) {
      const t0 = now();
      const target = pick(t0 - begun);
      result.sentByTarget[target]++;
      let status: number;
      try {
        status = await send(agents.get(servers[target].host)!, servers[target], plan.targets[target]);
      } catch {
        status = 0;
      }
      const t1 = now();
      if (t0 >= warmupEnd && !settling(t0 - begun)) {
        measured++;
        result.start.push(t0);
        result.end.push(t1);
        result.target.push(target);
        result.status.push(status);
      } else result.warmupRequests++;
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, worker));
  result.elapsedMs = now() - warmupEnd;
  for (const agent of agents.values()) agent.destroy();
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
