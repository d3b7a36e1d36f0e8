/**
 * NATS connector throughput: messages/s from a nats-server through an identity pipeline
 * (nats.subscribe on `in` → async edge → nats.publish to `out`, core subjects, JSON decoded and
 * encoded) vs the raw client doing the same read-decode-encode-write loop, in the same run, each
 * side in its own child process (its own peak RSS). The producer sends in windows of WINDOW
 * messages and waits for them on `out`, so neither side is flooded past what it can take.
 *   node --import tsx bench/connectors-nats.ts --messages 100000 --rounds 3
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../test/nats/server";

const WINDOW = 1000;
const arg = (name: string, fallback: number) => Number(process.argv[process.argv.indexOf(`--${name}`) + 1] || fallback);

async function pump(url: string, total: number): Promise<number> {
  const nc = await connect({ servers: url });
  let seen = 0;
  let waiting: (() => void) | undefined;
  const sub = nc.subscribe("out");
  void (async () => {
    for await (const _ of sub) if (++seen % WINDOW === 0 && waiting) waiting();
  })();
  await nc.flush();
  const body = JSON.stringify({ sensor: "s1", value: 21.5, tags: ["a", "b"] });
  const start = performance.now();
  for (let sent = 0; sent < total; sent += WINDOW) {
    const reached = new Promise<void>((r) => (waiting = r));
    for (let i = 0; i < WINDOW; i++) nc.publish("in", body);
    await reached;
  }
  const seconds = (performance.now() - start) / 1000;
  await nc.close();
  return total / seconds;
}

async function side(name: string, url: string, total: number): Promise<void> {
  let stop: () => Promise<void>;
  if (name === "raw") {
    const nc: NatsConnection = await connect({ servers: url });
    const sub = nc.subscribe("in");
    void (async () => {
      for await (const m of sub) nc.publish("out", JSON.stringify(JSON.parse(new TextDecoder().decode(m.data))));
    })();
    await nc.flush();
    stop = () => nc.close();
  } else {
    const { Runtime } = await import("../runtime/runtime");
    const runtime = new Runtime({ dataDir: mkdtempSync(`${tmpdir()}/evoflow-bench-`), grants: ["network"] });
    await runtime.deploy({
      apiVersion: "evoflow/v1",
      name: "bench",
      nodes: [
        { id: "in", type: "nats.subscribe", config: { servers: [url], subject: "in" } },
        { id: "out", type: "nats.publish", config: { servers: [url], subject: "out" } },
      ],
      edges: [{ from: "in.out", to: "out.in", mode: "async" }],
    } as never);
    stop = () => runtime.close();
  }
  await pump(url, Math.min(total, 10_000)); // warm-up
  const rate = await pump(url, total);
  await stop();
  process.stdout.write(JSON.stringify({ side: name, msgsPerSecond: rate, peakRssMB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

async function main(): Promise<void> {
  const total = arg("messages", 100_000);
  const rounds = arg("rounds", 3);
  if (process.argv.includes("--side")) return side(process.argv[process.argv.indexOf("--side") + 1], process.argv[process.argv.indexOf("--url") + 1], total);
  const server = await NatsServer.start();
  const results: Record<string, { rates: number[]; peakRssMB: number }> = { raw: { rates: [], peakRssMB: 0 }, evoflow: { rates: [], peakRssMB: 0 } };
  try {
    for (let r = 0; r < rounds; r++)
      for (const name of ["raw", "evoflow"]) {
        const child = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--side", name, "--url", server.url, "--messages", String(total)], { encoding: "utf8" });
        if (child.status !== 0) throw new Error(`${name} side failed:\n${child.stderr}`);
        const out = JSON.parse(child.stdout) as { msgsPerSecond: number; peakRssMB: number };
        results[name].rates.push(Math.round(out.msgsPerSecond));
        results[name].peakRssMB = Math.max(results[name].peakRssMB, Math.round(out.peakRssMB));
      }
  } finally {
    await server.dispose();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratio = median(results.evoflow.rates) / median(results.raw.rates);
  const command = `node --import tsx bench/connectors-nats.ts --messages ${total} --rounds ${rounds}`;
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version };
  const date = new Date().toISOString();
  writeFileSync("bench/results/connectors-nats.json", `${JSON.stringify({ date, command, machine, results, ratio, target: 0.8 }, null, 2)}\n`);
  writeFileSync(
    "bench/results/connectors-nats.md",
    [
      "# NATS connector: identity pipeline vs the raw client",
      "",
      `${date}, \`${command}\`, ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GiB, Node ${machine.node}; the machine is shared with other jobs.`,
      "",
      "Core subjects on one nats-server child: `nats.subscribe` (in) → async edge → `nats.publish` (out), against a raw `@nats-io/transport-node` loop that reads `in`, parses and re-encodes the JSON and writes `out`. Producer windows of 1,000 messages; each side in its own process after a 10,000-message warm-up; median of the rounds.",
      "",
      "| side | msgs/s (rounds) | median | peak RSS (MB) |",
      "| --- | --- | ---: | ---: |",
      ...(["raw", "evoflow"] as const).map((n) => `| ${n} | ${results[n].rates.join(", ")} | ${median(results[n].rates)} | ${results[n].peakRssMB} |`),
      "",
      `Ratio evoflow / raw: **${ratio.toFixed(2)}** (target ≥ 0.8: ${ratio >= 0.8 ? "met" : "NOT met"}).`,
      "",
    ].join("\n"),
  );
  process.stderr.write(`raw ${median(results.raw.rates)} msgs/s, evoflow ${median(results.evoflow.rates)} msgs/s, ratio ${ratio.toFixed(2)}\n`);
}

await main();
