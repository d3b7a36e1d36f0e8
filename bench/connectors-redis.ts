/**
 * Redis Streams through Evoflow against the raw client, in one run: N entries in a stream, read
 * through a consumer group and written to another stream, acknowledged per read.
 *   (a) raw ioredis: XREADGROUP COUNT 100, an awaited XADD per entry, one XACK per read
 *   (b) Evoflow: redis.read (count 100) → sync edge → redis.add, deployed on the embedded runtime
 * Each side runs in a child process of its own (so its peak RSS is its own), rounds taking turns,
 * the median round reported. Target (issue 22): b/a ≥ 0.8.
 *
 *   node --import tsx bench/connectors-redis.ts [--messages 20000] [--rounds 3]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { RedisServer } from "../test/connectors/redis-server";

interface SideResult {
  side: "raw" | "evoflow";
  messages: number;
  seconds: number;
  msgsPerSecond: number;
  peakRssMB: number;
}

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function untilLength(redis: Redis, stream: string, n: number): Promise<void> {
  while ((await redis.xlen(stream)) < n) await new Promise((r) => setTimeout(r, 5));
}

/** In the child: one side, from stream `in` (group `g<round>`) to stream `out`. */
async function side(which: "raw" | "evoflow", url: string, group: string, out: string, n: number): Promise<SideResult> {
  const redis = new Redis(url);
  if (which === "raw") {
    let done = 0;
    while (done < n) {
      const reply = (await redis.xreadgroupBuffer("GROUP", group, "raw", "COUNT", 100, "BLOCK", 1000, "STREAMS", "in", ">")) as [Buffer, [Buffer, Buffer[]][]][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      for (const [, fields] of entries) await redis.xadd(out, "*", "data", fields[1]);
      if (entries.length) await redis.xack("in", group, ...entries.map(([id]) => id));
      done += entries.length;
    }
  } else {
    const { Runtime } = await import("../runtime/runtime");
    const runtime = new Runtime({ dataDir: mkdtempSync(join(tmpdir(), "evoflow-bench-redis-")) });
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "redis-identity",
      nodes: [
        { id: "in", type: "redis.read", config: { url, stream: "in", group, startAt: "all", count: 100 } },
        { id: "out", type: "redis.add", config: { url, stream: out } },
      ],
      edges: [{ from: "in.out", to: "out.in", mode: "sync" }],
    } as never);
    await untilLength(redis, out, n);
    await runtime.close();
  }
  if ((await redis.xlen(out)) < n) throw new Error(`${which}: ${await redis.xlen(out)} of ${n} written`);
  // Timed by the written entries' own ids (Redis's clock, ms): first to last, so deploying and connecting do not count.
  const msOf = async (end: "+" | "-") => Number(((end === "-" ? await redis.xrange(out, "-", "+", "COUNT", 1) : await redis.xrevrange(out, "+", "-", "COUNT", 1))[0][0]).split("-")[0]);
  const seconds = Math.max(1, (await msOf("+")) - (await msOf("-"))) / 1000;
  redis.disconnect();
  return { side: which, messages: n, seconds, msgsPerSecond: (n - 1) / seconds, peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

async function inChild(which: "raw" | "evoflow", url: string, group: string, out: string, n: number): Promise<SideResult> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--side", which, url, group, out, String(n)], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  const code = await new Promise((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`${which} side exited with ${code}`);
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const n = arg("messages", 20_000);
  const rounds = arg("rounds", 3);
  const server = await RedisServer.start("everysec");
  const redis = server.client();
  const load = loadavg();
  const payload = JSON.stringify({ sensor: "s1", x: Array.from({ length: 16 }, (_, i) => i / 16) });
  for (let i = 0; i < n; i += 1000) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(n, i + 1000); j++) pipe.xadd("in", "*", "data", payload);
    await pipe.exec();
  }
  const results: SideResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const which of ["raw", "evoflow"] as const) {
      const group = `${which}-${round}`;
      await redis.xgroup("CREATE", "in", group, "0");
      results.push(await inChild(which, server.url, group, `out-${group}`, n));
    }
  }
  redis.disconnect();
  await server.close();
  const of = (s: "raw" | "evoflow") => results.filter((r) => r.side === s);
  const a = median(of("raw").map((r) => r.msgsPerSecond));
  const b = median(of("evoflow").map((r) => r.msgsPerSecond));
  // Each round's two sides ran back to back, so their ratio is steadier than the ratio of the medians on a shared machine.
  const ratios = of("evoflow").map((r, i) => r.msgsPerSecond / of("raw")[i].msgsPerSecond);
  const ratio = median(ratios);
  const version = execFileSync("/usr/bin/redis-server", ["--version"]).toString().trim();
  const cmd = `node --import tsx bench/connectors-redis.ts --messages ${n} --rounds ${rounds}`;
  const md = `# Redis Streams connector benchmark

Command: \`${cmd}\` — ${new Date().toISOString()}

Machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}, ${version}, appendonly with fsync every second, loopback.
Load average before the run (1/5/15 min): ${load.map((l) => l.toFixed(2)).join(" / ")} — other work on the machine shows in the figures.
Messages: ${n} entries of ${payload.length} bytes of JSON in one stream, read through a consumer group (100 a read), each written to another stream, acknowledged per read; ${rounds} rounds, raw and Evoflow taking turns, each side in a fresh child process, the median round reported.

| | msgs/s (median) | every round | peak RSS MB (max) |
| --- | ---: | --- | ---: |
| (a) raw ioredis XREADGROUP → XADD → XACK | ${a.toFixed(0)} | ${of("raw").map((r) => r.msgsPerSecond.toFixed(0)).join(", ")} | ${Math.max(...of("raw").map((r) => r.peakRssMB)).toFixed(0)} |
| (b) Evoflow redis.read → sync edge → redis.add | ${b.toFixed(0)} | ${of("evoflow").map((r) => r.msgsPerSecond.toFixed(0)).join(", ")} | ${Math.max(...of("evoflow").map((r) => r.peakRssMB)).toFixed(0)} |

Ratio b/a, the median of the rounds' (${ratios.map((r) => r.toFixed(2)).join(", ")}): **${ratio.toFixed(2)}** (target ≥ 0.8). Each side is timed from its first written entry to its last, by the entries' ids (Redis's clock), so starting the process and deploying do not count; msgs/s = messages / that time.
`;
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/connectors-redis.json", JSON.stringify({ command: cmd, date: new Date().toISOString(), loadavg: load, results, ratios, ratio }, null, 2) + "\n");
  writeFileSync("bench/results/connectors-redis.md", md);
  process.stdout.write(md);
}

if (process.argv[2] === "--side") {
  const [, which, url, group, out, n] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(await side(which as "raw" | "evoflow", url, group, out, Number(n))) + "\n");
  process.exit(0);
} else await main();
