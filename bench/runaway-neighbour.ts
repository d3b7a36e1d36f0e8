/**
 * A neighbour pipeline's latency while another pipeline in the same runtime receives runaway
 * JSONata expressions back to back (issue 18 point 6; target: neighbour p99 ≤ 1.5× idle).
 *
 * One Evoflow runtime (a child process, served as `evoflow run` serves) holds a neighbour
 * sync pipeline (`io.http → transform.jsonata { 'double': n * 2 }`) and one pipeline per
 * runaway kind. A load client (bench/agent-load-client.ts, another process) keeps the
 * neighbour busy for the whole run; this process alternates windows of WINDOW_MS: idle, then
 * runaway (one kind per window, in turn, one request at a time, each sent when the last one's
 * 422 came back), or, as a control, of legitimate requests to a third pipeline sent the same way.
 * The first SETTLE_MS of a window is not counted. Latencies are classed by
 * the window their request started in, so both classes share the machine's changing load.
 * Also: the server's peak RSS, and what the limits cost a trivial evaluation (in this
 * process, CPU time, plain jsonata and LimitedJsonata taking turns).
 * Writes bench/results/runaway-neighbour.json and .md.
 *
 * Run: node --import tsx bench/runaway-neighbour.ts [--seconds 48] [--concurrency 4]
 * (56 s: the six runaway kinds and the control get two windows of 2 s each, each after an idle one)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import jsonata from "jsonata";
import { DEFAULT_MAX_DEPTH, DEFAULT_TIMEOUT_MS, LimitedJsonata } from "../runtime/user-code/limited-jsonata";
import { benchDir, forkChild, RUNTIME_NODE_FLAGS, ask, latencySummary, machine, mb, round, runLoad, stopChild, numberArg, pinToCore } from "./agent-bench-lib";


export const RUNAWAYS: Record<string, string> = {
  recursion: "($f := function($n){ $n = 0 ? 0 : 1 + $f($n-1) }; $f(1000000))",
  "range-map": "$sum([1..10000000].($*2))",
  "endless-loop": "($loop := function(){ $loop() }; $loop())",
  "filter-long": "$count([1..1000000][$ % 2 = 0])",
  "sort-function": "$sort([1..100000], function($a, $b){ $a < $b })",
  "regex-backreference": "$match($pad('', 40, 'a') & 'c', /(a|a)*\\1b/)",
};
/**
 * Kinds refused before they run (the range before it allocates): each costs the server what a
 * legitimate request does, so sent back to back they are a flood, compared with the control
 * rather than counted among the runaways, whose cost is their running.
 */
const REFUSED_UP_FRONT = new Set(["range-map"]);
const NEIGHBOUR = "{ 'double': n * 2 }";
/**
 * A control window: the neighbour's own expression in another pipeline, sent back to back like
 * the runaways. What any second client of the process costs the neighbour, runaway or not.
 */
const BUSY = "busy";

if (process.argv[2] === "--server") await serve();
else await main();

/** The runtime under test, in its own process: reports its port, then its peak RSS when asked. */
async function serve() {
  const { Runtime } = await import("../runtime/runtime");
  const { createApi } = await import("../runtime/api/server");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-runaway-")) });
  const pipeline = (name: string, expression: string) => ({
    apiVersion: "evoflow/v1",
    name,
    nodes: [{ id: "h", type: "io.http" }, { id: "t", type: "transform.jsonata", config: { expression } }],
    edges: [{ from: "h.out", to: "t.in" }],
  });
  await runtime.deploy(pipeline("neighbour", NEIGHBOUR));
  await runtime.deploy(pipeline(`runaway-${BUSY}`, NEIGHBOUR));
  for (const [kind, expression] of Object.entries(RUNAWAYS)) await runtime.deploy(pipeline(`runaway-${kind}`, expression));
  const app = await createApi({ runtime });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  process.on("message", () => {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    process.send!({ peakRssBytes: Number(kb?.[1] ?? 0) * 1024 });
  });
  process.send!({ port: typeof address === "object" && address ? address.port : 0 });
}

interface Window {
  kind: string; // "idle" or a runaway kind
  from: number; // epoch ms, counted from here (after the settling)
  to: number;
}

async function main() {
  const seconds = numberArg("seconds", 56);
  const concurrency = numberArg("concurrency", 4);
  const WINDOW_MS = 2000;
  const SETTLE_MS = 200;
  const now = () => performance.timeOrigin + performance.now();

  const server = await forkChild<{ port: number }>("runaway-neighbour.ts", ["--server"], RUNTIME_NODE_FLAGS);
  // The clients' own CPU (the load generator's and this process's fetches of the runaways) must
  // not be what the neighbour pays for: the server (its worker threads inherit it) gets one core
  // to itself, shared with the runaways' workers (the worst case for the neighbour), and both
  // clients the other.
  const pinned = availableParallelism() >= 2;
  if (pinned) {
    pinToCore(server.child.pid!, 1);
    pinToCore(process.pid, 0);
  }
  const url = `http://127.0.0.1:${server.ready.port}`;
  const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if ((await (await post("/pipelines/neighbour", { n: 21 })).json() as { double: number }).double !== 42) throw new Error("the neighbour answers wrongly");
  // Each runaway once before anything is timed: the workers start, the JIT warms up.
  for (const kind of Object.keys(RUNAWAYS)) await post(`/pipelines/runaway-${kind}`, { n: 1 });

  const warmupMs = 2000;
  const load = runLoad({ url, targets: [{ path: "/pipelines/neighbour", body: JSON.stringify({ n: 21 }) }], pick: "round", concurrency, warmupMs, durationMs: seconds * 1000, maxRequests: 10_000_000 });
  const windows: Window[] = [];
  const runaways: { kind: string; status: number; ms: number; error: string }[] = [];
  await new Promise((r) => setTimeout(r, warmupMs));
  const stopAt = now() + seconds * 1000;
  // `--kinds recursion,sort-function` looks at some kinds alone (the control always runs).
  const only = process.argv.indexOf("--kinds");
  const kinds = [...(only > 0 ? process.argv[only + 1].split(",").filter((k) => k in RUNAWAYS) : Object.keys(RUNAWAYS)), BUSY];
  for (let w = 0; now() < stopAt; w++) {
    const kind = w % 2 === 0 ? "idle" : kinds[((w - 1) / 2) % kinds.length];
    const start = now();
    const end = Math.min(start + WINDOW_MS, stopAt);
    windows.push({ kind, from: start + SETTLE_MS, to: end });
    if (kind === "idle") await new Promise((r) => setTimeout(r, end - start));
    else
      while (now() < end) {
        const t0 = now();
        const res = await post(`/pipelines/runaway-${kind}`, { n: 1 });
        const body = (await res.json()) as { error?: string };
        runaways.push({ kind, status: res.status, ms: round(now() - t0, 1), error: body.error ?? "" });
      }
  }
  const result = await load;
  const { peakRssBytes } = await ask<{ peakRssBytes: number }>(server.child, "rss");
  await stopChild(server.child);

  const latencies = new Map<string, number[]>();
  let errors = 0;
  for (let i = 0; i < result.start.length; i++) {
    if (result.status[i] !== 200) errors++;
    const w = windows.find((x) => result.start[i] >= x.from && result.start[i] < x.to);
    if (!w) continue;
    const keys = w.kind === "idle" ? ["idle"] : w.kind === BUSY ? ["busy: legit requests back to back"] : REFUSED_UP_FRONT.has(w.kind) ? [`refused up front: ${w.kind}`] : ["runaway", `runaway: ${w.kind}`];
    for (const key of keys) {
      if (!latencies.has(key)) latencies.set(key, []);
      latencies.get(key)!.push(result.end[i] - result.start[i]);
    }
  }
  const summary = Object.fromEntries([...latencies].map(([k, v]) => [k, latencySummary(v)]));
  const ratioTo = (s: { p50: number; p99: number }) => ({ p50: round(s.p50 / summary.idle.p50, 2), p99: round(s.p99 / summary.idle.p99, 2) });
  const ratio = ratioTo(summary.runaway);
  const busyRatio = ratioTo(summary["busy: legit requests back to back"]);
  const outcomes = Object.fromEntries(
    kinds.filter((k) => k in RUNAWAYS).map((kind) => {
      const mine = runaways.filter((r) => r.kind === kind);
      return [kind, { count: mine.length, statuses: [...new Set(mine.map((r) => r.status))], errors: [...new Set(mine.map((r) => r.error))], msMax: Math.max(...mine.map((r) => r.ms)), msMedian: mine.map((r) => r.ms).sort((a, b) => a - b)[Math.floor(mine.length / 2)] }];
    }),
  );
  const hookCost = measureHookCost();
  const out = { date: new Date().toISOString(), machine: machine(), pinned, command: `node --import tsx ${process.argv.slice(1).map((a) => a.replace(/^.*\/bench\//, "bench/")).join(" ")}`, seconds, concurrency, windowMs: WINDOW_MS, settleMs: SETTLE_MS, neighbourRequests: result.start.length, neighbourErrors: errors, summary, ratio, busyRatio, runaways: outcomes, serverPeakRssMB: mb(peakRssBytes), hookCost: await hookCost };
  writeFileSync(join(benchDir, "results", "runaway-neighbour.json"), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(join(benchDir, "results", "runaway-neighbour.md"), markdown(out));
  console.log(JSON.stringify({ summary, ratio, busyRatio, serverPeakRssMB: out.serverPeakRssMB, hookCost: out.hookCost }, null, 2));
}

/** CPU ns per evaluation of the neighbour's expression, plain jsonata against LimitedJsonata, in turns of 20,000. */
async function measureHookCost() {
  const input = { n: 21 };
  const plain = jsonata(NEIGHBOUR);
  const limited = new LimitedJsonata(NEIGHBOUR, { timeoutMs: DEFAULT_TIMEOUT_MS, maxDepth: DEFAULT_MAX_DEPTH });
  const variants = { plain: () => plain.evaluate(input), limited: () => limited.evaluate(input) };
  const samples: Record<string, number[]> = { plain: [], limited: [] };
  const N = 20_000;
  for (let turn = 0; turn < 30; turn++)
    for (const [name, evaluate] of Object.entries(variants)) {
      const before = process.cpuUsage();
      for (let i = 0; i < N; i++) await evaluate();
      const used = process.cpuUsage(before);
      if (turn >= 5) samples[name].push(((used.user + used.system) * 1000) / N);
    }
  const median = (v: number[]) => round([...v].sort((a, b) => a - b)[Math.floor(v.length / 2)], 0);
  const min = (v: number[]) => round(Math.min(...v), 0);
  return { expression: NEIGHBOUR, plainNsMedian: median(samples.plain), limitedNsMedian: median(samples.limited), plainNsMin: min(samples.plain), limitedNsMin: min(samples.limited) };
}

function markdown(o: any): string {
  const rows = Object.entries(o.summary as Record<string, { count: number; p50: number; p99: number; mean: number }>)
    .map(([k, s]) => `| ${k} | ${s.count} | ${s.p50} | ${s.p99} | ${s.mean} |`)
    .join("\n");
  const kinds = Object.entries(o.runaways as Record<string, { count: number; statuses: number[]; errors: string[]; msMedian: number; msMax: number }>)
    .map(([k, r]) => `| ${k} | \`${RUNAWAYS[k].replaceAll("|", "\\|")}\` | ${r.count} | ${r.statuses.join(", ")} | ${r.errors.join("; ")} | ${r.msMedian} | ${r.msMax} |`)
    .join("\n");
  const m = o.machine;
  return `# Neighbour latency during runaway JSONata

${o.date}, \`${o.command}\`, ${m.cores} × ${m.cpu}, ${m.memoryGB} GB, Node ${m.node}, load average ${m.loadAverage1m} when it ended (a machine shared with other jobs).

One runtime, a neighbour sync pipeline under a closed-loop load of ${o.concurrency} clients from another process, for ${o.seconds} s; windows of ${o.windowMs} ms take turns: idle, then one runaway kind's requests back to back (the next sent when the last one's 422 came back), or as a control legitimate requests to a third pipeline sent the same way. The first ${o.settleMs} ms of each window are not counted.${o.pinned ? " The server and its worker threads are pinned to one core, both clients (the load generator and the runaways' sender) to the other (taskset), so the clients' own CPU is not charged to the neighbour." : ""} Latencies in ms.

| neighbour during | requests | p50 | p99 | mean |
| --- | --- | --- | --- | --- |
${rows}

**Neighbour p99 during runaways: ${o.ratio.p99}× idle** (target ≤ 1.5×; the kinds that run until a limit ends them); p50 ${o.ratio.p50}×. During the control (legitimate requests back to back to another pipeline): p99 ${o.busyRatio.p99}×, p50 ${o.busyRatio.p50}×. ${o.neighbourErrors} neighbour requests failed. The server's peak RSS: ${o.serverPeakRssMB} MB.

| runaway | expression | sent | status | reply | median ms | max ms |
| --- | --- | --- | --- | --- | --- | --- |
${kinds}

What the limits cost a trivial evaluation (\`${o.hookCost.expression}\`, CPU time of this process, turns of 20,000, medians of 25): plain jsonata ${o.hookCost.plainNsMedian} ns (min ${o.hookCost.plainNsMin}), LimitedJsonata ${o.hookCost.limitedNsMedian} ns (min ${o.hookCost.limitedNsMin}).

How they end (runtime/user-code/limited-jsonata.ts): the recursion at the depth limit, on the runtime's thread the first time, then in a worker thread (an expression that ran away runs off the runtime's thread until 20 evaluations in a row behave); the range before it allocates (jsonata's \`sequence\` option at 1,000,000); the loop, the long filter and the sort with a function run 10 ms on the runtime's thread (in 0.5 ms slices), then continue in a worker (Linux's idle scheduling class, else nice 19; 256 MB heap) whose own clock ends them at 1 s; the back-reference regex goes to the worker at once (V8's linear engine cannot run it) and is terminated 100 ms after its deadline. Reply times above 1 s include waiting for a replacement worker to start (at nice 19 on this busy machine), which is not charged to the expression. The range-map kind is refused before it runs (within a millisecond), so sent back to back it is a flood of cheap requests, a second client of the same process: its row is compared with the control's, not counted among the runaways. The peak RSS includes the two workers' heaps (the sort with a function fills its worker's heap before the deadline).
`;
}
