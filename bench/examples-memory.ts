/**
 * Memory of the main job: `npm start`'s command (the three example pipelines in one runtime),
 * on a fresh data folder, while hello serves requests and the Fashion-MNIST stream runs its
 * whole course (bootstrap, shifts, trainings, validations, rollouts). RSS of the runtime process
 * and of its children (the trainer's process) is sampled from /proc every 250 ms.
 *
 *   node --import tsx bench/examples-memory.ts [--seconds 120] [--young 8,32]
 *
 * `--young` lists the young-generation sizes (V8's --max-semi-space-size, MB) to compare;
 * `npm start`'s own flag is always one of them. Writes bench/results/examples-memory.{json,md,svg}.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { machine, round } from "./agent-bench-lib";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { seconds: { type: "string", default: "120" }, young: { type: "string", default: "8,32" } } });
const seconds = Number(values.seconds);

/** `npm start`'s command line, e.g. ["node", "--max-semi-space-size=8", "bin/evoflow.js", "run", ...]. */
const startCommand = (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start.split(/\s+/);
const startYoung = Number(startCommand.find((a) => a.startsWith("--max-semi-space-size="))?.split("=")[1] ?? 16);
const youngSizes = [...new Set([startYoung, ...values.young!.split(",").map(Number)])];

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0; // the process just ended
  }
}

/** The process's children and theirs (the trainer's process, and anything it starts). */
function descendants(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number).flatMap((child) => [child, ...descendants(child)]),
    );
  } catch {
    return []; // it just ended
  }
}

interface Sample {
  t: number;
  mainMB: number;
  treeMB: number;
}

async function runOnce(young: number, port: number) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "evoflow-examples-"));
  const args = startCommand.slice(1).map((a) => (a.startsWith("--max-semi-space-size=") ? `--max-semi-space-size=${young}` : a));
  if (!args.some((a) => a.startsWith("--max-semi-space-size="))) args.unshift(`--max-semi-space-size=${young}`);
  const child: ChildProcess = spawn(process.execPath, [...args, "--port", String(port), "--data", dataDir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const base = `http://127.0.0.1:${port}`;
  const started = Date.now();
  while (!log.includes("evoflow listening")) {
    if (child.exitCode !== null) throw new Error(`npm start's command exited: ${log}`);
    if (Date.now() - started > 60_000) throw new Error(`not listening after 60 s: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const samples: Sample[] = [];
  let helloAnswers = 0;
  let helloFailures = 0;
  const sampler = setInterval(() => {
    const main = rssKb(child.pid!);
    const tree = main + descendants(child.pid!).reduce((a, p) => a + rssKb(p), 0);
    samples.push({ t: round((Date.now() - started) / 1000, 2), mainMB: round(main / 1024, 1), treeMB: round(tree / 1024, 1) });
    if (samples.length % 40 === 0) process.stderr.write(`  young generation ${young} MB: ${Math.round((Date.now() - started) / 1000)}/${seconds} s, runtime ${Math.round(main / 1024)} MB RSS\n`);
  }, 250);
  const hello = setInterval(() => {
    fetch(`${base}/pipelines/hello`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: [1, 2, 3, 4] }) })
      .then((r) => (r.ok ? helloAnswers++ : helloFailures++))
      .catch(() => helloFailures++);
  }, 20);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(hello);
  clearInterval(sampler);
  const stream = ((await (await fetch(`${base}/api/pipelines/fashion-mnist-cl/status`)).json()) as { nodes: Record<string, { sent?: number; total?: number }> }).nodes.fmnist;
  const history = ((await (await fetch(`${base}/api/services/fashion-mnist-cl/history`)).json()) as { entries: { decision: string }[] }).entries;
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0);
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  rmSync(dataDir, { recursive: true, force: true });
  const last20 = samples.filter((s) => s.t >= seconds - 20).map((s) => s.mainMB).sort((a, b) => a - b);
  return {
    young,
    peakMainMB: round(hwmKb / 1024, 1),
    steadyMainMB: last20[Math.floor(last20.length / 2)],
    peakTreeMB: Math.max(...samples.map((s) => s.treeMB)),
    helloAnswers,
    helloFailures,
    stream: { sent: stream?.sent, total: stream?.total },
    updates: { promoted: history.filter((e) => e.decision === "promoted").length, rejected: history.filter((e) => e.decision === "rejected").length, all: history.length },
    samples,
  };
}

function chartSvg(runs: Awaited<ReturnType<typeof runOnce>>[]): string {
  const [W, H, m] = [900, 380, { left: 60, right: 200, top: 40, bottom: 45 }];
  const maxMB = Math.ceil(Math.max(...runs.flatMap((r) => r.samples.map((s) => s.treeMB))) / 100) * 100;
  const x = (t: number) => m.left + (t / seconds) * (W - m.left - m.right);
  const y = (v: number) => m.top + (1 - v / maxMB) * (H - m.top - m.bottom);
  const colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">RSS of npm start's runtime (solid) and with its trainer process (dotted)</text>`);
  for (let v = 0; v <= maxMB; v += 50) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="${v === 200 ? "#999" : "#eee"}"${v === 200 ? ' stroke-dasharray="6 3"' : ""}/>`);
    out.push(`<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${v} MB</text>`);
  }
  for (let t = 0; t <= seconds; t += 20) out.push(`<text x="${x(t)}" y="${H - m.bottom + 18}" text-anchor="middle">${t} s</text>`);
  runs.forEach((r, i) => {
    const line = (key: "mainMB" | "treeMB") => r.samples.map((s) => `${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`).join(" ");
    out.push(`<polyline fill="none" stroke="${colors[i]}" stroke-width="2" points="${line("mainMB")}"/>`);
    out.push(`<polyline fill="none" stroke="${colors[i]}" stroke-width="1" stroke-dasharray="2 3" points="${line("treeMB")}"/>`);
    out.push(`<text x="${W - m.right + 10}" y="${m.top + 20 + i * 20}" fill="${colors[i]}">young generation ${r.young} MB${r.young === startYoung ? " (npm start)" : ""}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}

const runs = [];
for (const [i, young] of youngSizes.entries()) runs.push(await runOnce(young, 18_300 + i));
const result = { command: `node --import tsx bench/examples-memory.ts --seconds ${seconds} --young ${values.young}`, startCommand: startCommand.join(" "), date: new Date().toISOString(), machine: machine(), seconds, runs };
const results = path.join(root, "bench", "results");
writeFileSync(path.join(results, "examples-memory.json"), `${JSON.stringify(result, null, 1)}\n`);
writeFileSync(path.join(results, "examples-memory.svg"), chartSvg(runs));
const rows = runs.map(
  (r) =>
    `| ${r.young}${r.young === startYoung ? " (npm start)" : ""} | ${r.peakMainMB} | ${r.steadyMainMB} | ${r.peakTreeMB} | ${r.helloAnswers} (${r.helloFailures} failed) | ${r.stream.sent}/${r.stream.total} | ${r.updates.promoted} promoted, ${r.updates.rejected} rejected |`,
);
writeFileSync(
  path.join(results, "examples-memory.md"),
  `# Memory of the main job (npm start)

Command: \`${result.command}\` — ${result.date}

Machine: ${JSON.stringify(result.machine)}

What runs: \`${result.startCommand}\` with \`--data\` a fresh folder, for ${seconds} s: the hello, drift-monitor and
Fashion-MNIST CL pipelines in one runtime process, hello called 50 times a second, the Fashion-MNIST stream
bootstrapping its first champion (in a child process), then shifting, with trainings (child process), validations and
canary rollouts. RSS from /proc every 250 ms; peak = the runtime's VmHWM; steady = median of the last 20 s.

![RSS over time](examples-memory.svg)

| young generation (MB) | runtime peak RSS (MB) | runtime steady RSS (MB) | peak with trainer process (MB) | hello answers | stream sent | CL updates |
| ---: | ---: | ---: | ---: | ---: | ---: | --- |
${rows.join("\n")}
`,
);
process.stdout.write(`${rows.join("\n")}\n`);
