/**
 * What the PostgreSQL and AMQP connector benchmarks share: each side (the raw client, Evoflow) in
 * a child process of its own, so its peak RSS is its own, started as `<bench> --side NAME ARGS…`;
 * rounds taking turns; the median of the rounds' ratios (each round's two sides ran back to back,
 * which is steadier on a shared machine than a ratio of medians); results written to
 * bench/results/<name>.json and .md with the machine, the command and the load average.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";

export type Side = "raw" | "evoflow";
export interface SideRun {
  side: Side;
  messages: number;
  seconds: number;
  msgsPerSecond: number;
  peakRssMB: number;
  /** User + system CPU of the side's process once it is connected (Evoflow: deployed), per message. */
  cpuMicrosPerMessage: number;
}

export const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** In a side's child: its name and arguments, or undefined in the parent. */
export function sideArgs(): [Side, ...string[]] | undefined {
  const i = process.argv.indexOf("--side");
  return i > 0 ? (process.argv.slice(i + 1) as [Side, ...string[]]) : undefined;
}

/** The side's last line on stdout, its CPU counted from `since` (once connected or deployed), parsed by the parent: ends a child. */
export function reportSide(since: NodeJS.CpuUsage): never {
  const cpu = process.cpuUsage(since);
  process.stdout.write(`${JSON.stringify({ peakRssMB: process.resourceUsage().maxRSS / 1024, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
  process.exit(0);
}

/** Runs one side in a child process; `stop()` writes a line to its stdin, for sides the parent decides the end of. */
export function sideInChild(file: string, side: Side, args: string[]): { result: Promise<Record<string, unknown> & { peakRssMB: number; cpuSeconds: number }>; stop: () => void } {
  const child = spawn(process.execPath, ["--import", "tsx", file, "--side", side, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  const result = new Promise<Record<string, unknown> & { peakRssMB: number; cpuSeconds: number }>((resolve, reject) =>
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(stdout.trim().split("\n").pop()!)) : reject(new Error(`${side} side exited with ${code}`)))),
  );
  return { result, stop: () => child.stdin.end("stop\n") };
}

/** Counts the messages reaching the output, for `timedSide`: call `count()` on each. */
export class Arrivals {
  seen = 0;
  first = 0;
  private all: () => void = () => {};
  readonly done = new Promise<void>((r) => (this.all = r));

  constructor(readonly expected: number) {}

  count(): void {
    if (this.seen++ === 0) this.first = performance.now();
    if (this.seen === this.expected) this.all();
  }
}

/**
 * Runs a side in a child until every message arrived (or the child ends), then stops it: the
 * run's figures, timed from the first arrival to the last, with progress every 5 s.
 */
export async function timedSide(file: string, which: Side, args: string[], arrivals: Arrivals, label: string): Promise<SideRun> {
  const n = arrivals.expected;
  const child = sideInChild(file, which, args);
  const progress = setInterval(() => process.stderr.write(`${label}: ${arrivals.seen}/${n}\n`), 5000);
  await Promise.race([arrivals.done, child.result]).finally(() => clearInterval(progress));
  const seconds = (performance.now() - arrivals.first) / 1000;
  child.stop();
  const { peakRssMB, cpuSeconds } = await child.result;
  return { side: which, messages: n, seconds, msgsPerSecond: (n - 1) / seconds, peakRssMB, cpuMicrosPerMessage: (cpuSeconds * 1e6) / n };
}

/** Resolves when the parent says stop (a line on stdin). */
export const stopped = () => new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface Report {
  name: string;
  title: string;
  command: string;
  /** The server and how it was set up, for the machine line. */
  server: string;
  /** What moved, how it was timed. */
  workload: string;
  labels: Record<Side, string>;
  load: number[];
  runs: SideRun[];
}

export function writeReport(r: Report): void {
  const of = (s: Side) => r.runs.filter((x) => x.side === s);
  const ratios = of("evoflow").map((x, i) => x.msgsPerSecond / of("raw")[i].msgsPerSecond);
  const ratio = median(ratios);
  const date = new Date().toISOString();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version };
  const after = loadavg();
  const row = (s: Side) =>
    `| ${r.labels[s]} | ${median(of(s).map((x) => x.msgsPerSecond)).toFixed(0)} | ${of(s).map((x) => x.msgsPerSecond.toFixed(0)).join(", ")} | ${median(of(s).map((x) => x.cpuMicrosPerMessage)).toFixed(0)} | ${Math.max(...of(s).map((x) => x.peakRssMB)).toFixed(0)} |`;
  const md = [
    `# ${r.title}`,
    "",
    `Command: \`${r.command}\` — ${date}`,
    "",
    `Machine: ${machine.cpuModel ?? "?"}, ${machine.cpus} cores, ${machine.memoryGB} GB, Node ${machine.node}, ${r.server}, loopback.`,
    `Load average (1/5/15 min) before the run: ${r.load.map((l) => l.toFixed(2)).join(" / ")}, after it: ${after.map((l) => l.toFixed(2)).join(" / ")}. A busy machine shared with other sessions (2 cores, load above 1 means work waited for a core): a short run, and the figures move with what else ran.`,
    "",
    r.workload,
    "",
    "| | msgs/s (median) | every round | CPU µs/msg (median) | peak RSS MB (max) |",
    "| --- | ---: | --- | ---: | ---: |",
    row("raw"),
    row("evoflow"),
    "",
    "CPU µs/msg is the side process's user + system time from when it was connected (Evoflow: deployed; its source starts during the deploy, so a few messages go uncounted) to its end, over the messages it moved: on a machine whose cores are taken by others, the rate follows it.",
    "",
    `Ratio evoflow / raw, the median of the rounds' (${ratios.map((x) => x.toFixed(2)).join(", ")}): **${ratio.toFixed(2)}** (target ≥ 0.8: ${ratio >= 0.8 ? "met" : "not met"}).`,
    "",
  ].join("\n");
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(`bench/results/${r.name}.json`, `${JSON.stringify({ command: r.command, date, machine, server: r.server, loadavgBefore: r.load, loadavgAfter: after, runs: r.runs, ratios, ratio, target: 0.8 }, null, 2)}\n`);
  writeFileSync(`bench/results/${r.name}.md`, md);
  process.stdout.write(md);
}
