/**
 * Two measurements for the model tooling, each section in its own child process so its peak
 * RSS is its own:
 *
 * - profiler: `profileModel` on MLPs of three sizes, batch 1…32; and its measurement overhead:
 *   the throughput it reports against a bare `session.run` loop on the same model, same run
 *   (alternated, two rounds each, so drift on a shared machine hits both sides).
 * - registry: latency of the fs registry's operations (register with fsync, get, readArtifact
 *   with its SHA-256 check, promote) for a ~100 KB and a ~10 MB artifact.
 *
 *   node --import tsx bench/profiler-and-registry.ts   # writes bench/results/profiler-and-registry.{json,md}
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { ort } from "../onnx/ort";
import { profileModel, percentile } from "../onnx/profile";
import { FsModelRegistry } from "../runtime/registry/fs";
import { makeMlp } from "../test/fixtures/mlp";

const PROFILE_SECONDS = 2;
const OVERHEAD_SECONDS = 3;

const peakRssMB = () => process.resourceUsage().maxRSS / 1024;

async function profilerSection() {
  const models = [
    { name: "mlp-64-32-4", sizes: [64, 32, 4] },
    { name: "mlp-784-128-10", sizes: [784, 128, 10] },
    { name: "mlp-784-512-512-10", sizes: [784, 512, 512, 10] },
  ];
  const profiles = [];
  for (const m of models) {
    const profile = await profileModel(makeMlp({ sizes: m.sizes, softmax: true }).bytes, { durationSeconds: PROFILE_SECONDS });
    profiles.push({ model: m.name, loadMs: profile.loadMs, results: profile.results });
  }

  // Overhead: profiler-reported throughput vs a bare loop, on the 784-128-10 model, one intra-op
  // thread so CPU time measures work (not thread-pool spinning) and per-CPU-second rates compare
  // fairly when other processes share the machine.
  const bytes = makeMlp({ sizes: [784, 128, 10], softmax: true }).bytes;
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
  const overhead = [];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const batch of [1, 32]) {
    const feeds = { input: new ort.Tensor("float32", Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i)), [batch, 784]) };
    const bare = { wall: [] as number[], perCpu: [] as number[] };
    const profiled = { wall: [] as number[], perCpu: [] as number[] };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5; i++) await session.run(feeds);
      let batches = 0;
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      while (performance.now() - start < OVERHEAD_SECONDS * 1000) {
        await session.run(feeds);
        batches++;
      }
      const seconds = (performance.now() - start) / 1000;
      const cpu = process.cpuUsage(cpu0);
      bare.wall.push((batch * batches) / seconds);
      bare.perCpu.push((batch * batches) / ((cpu.user + cpu.system) / 1e6));
      const r = (await profileModel(bytes, { batchSizes: [batch], durationSeconds: OVERHEAD_SECONDS, intraOpNumThreads: 1 })).results[0];
      profiled.wall.push(r.throughput);
      profiled.perCpu.push((r.batchSize * r.batches) / r.cpu.seconds);
    }
    overhead.push({
      batch,
      bare: { examplesPerSecond: mean(bare.wall), examplesPerCpuSecond: mean(bare.perCpu) },
      profiler: { examplesPerSecond: mean(profiled.wall), examplesPerCpuSecond: mean(profiled.perCpu) },
      ratioWall: mean(profiled.wall) / mean(bare.wall),
      ratioPerCpu: mean(profiled.perCpu) / mean(bare.perCpu),
      rounds: { bare, profiled },
    });
  }
  await session.release();
  return { profiles, overhead, peakRssMB: peakRssMB() };
}

async function registrySection() {
  const dir = mkdtempSync(path.join(tmpdir(), "evoflow-bench-registry-"));
  const registry = new FsModelRegistry(dir);
  const stats = (ms: number[]) => {
    const sorted = [...ms].sort((a, b) => a - b);
    return { count: ms.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted.at(-1)! };
  };
  const timed = async (times: number, op: (i: number) => Promise<unknown>) => {
    const ms: number[] = [];
    for (let i = 0; i < times; i++) {
      const t0 = performance.now();
      await op(i);
      ms.push(performance.now() - t0);
    }
    return stats(ms);
  };
  const artifacts = [
    { name: "small", bytes: makeMlp({ sizes: [784, 32, 10] }).bytes },
    { name: "large", bytes: makeMlp({ sizes: [784, 2048, 512, 10] }).bytes },
  ];
  const results = [];
  for (const a of artifacts) {
    const register = await timed(20, () => registry.register({ name: a.name, artifact: a.bytes, metrics: { accuracy: 0.9 } }));
    const get = await timed(200, () => registry.get(a.name, 7));
    const getChampion = await timed(50, () => registry.get(a.name, "champion"));
    const readArtifact = await timed(20, (i) => registry.readArtifact(a.name, (i % 20) + 1));
    const promote = await timed(20, (i) => registry.promote(a.name, (i % 20) + 1));
    results.push({ artifact: a.name, bytes: a.bytes.byteLength, versions: 20, ms: { register, get, getChampion, readArtifact, promote } });
  }
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
  return { results, peakRssMB: peakRssMB() };
}

function runSection(section: string): unknown {
  const child = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), section], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (child.status !== 0) throw new Error(`section ${section} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout);
}

const section = process.argv[2];
if (section === "profiler") process.stdout.write(JSON.stringify(await profilerSection()));
else if (section === "registry") process.stdout.write(JSON.stringify(await registrySection()));
else {
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 1024 ** 3), node: process.version, onnxruntime: ort.env.versions.node };
  const loadBefore = loadavg()[0];
  process.stderr.write("profiler section…\n");
  const profiler = runSection("profiler") as Awaited<ReturnType<typeof profilerSection>>;
  process.stderr.write("registry section…\n");
  const registry = runSection("registry") as Awaited<ReturnType<typeof registrySection>>;
  // Other work on the machine shows in wall-clock figures; the 1-minute load average says how much there was.
  const load = { before: loadBefore, after: loadavg()[0] };
  const result = { date: new Date().toISOString(), machine, load, command: "node --import tsx bench/profiler-and-registry.ts", profiler, registry };
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
  writeFileSync(path.join(out, "profiler-and-registry.json"), `${JSON.stringify(result, null, 2)}\n`);

  const f = (n: number, digits = 3) => n.toFixed(digits);
  const md = [
    "# Profiler and registry",
    "",
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB} GB, Node ${machine.node}, onnxruntime-node ${machine.onnxruntime}. ${result.date}.`,
    "",
    `1-minute load average ${f(load.before, 1)} before, ${f(load.after, 1)} after (other work on the machine: wall-clock rates and tail latencies suffer first; per-CPU-second rates much less).`,
    "",
    `Command: \`${result.command}\``,
    "",
    `## Profiles (\`profileModel\`, CPU, ${PROFILE_SECONDS} s per batch size, 5 warm-up batches) — section peak RSS ${f(profiler.peakRssMB, 0)} MB`,
    "",
    ...profiler.profiles.flatMap((p) => [
      `### ${p.model} (session load ${f(p.loadMs, 1)} ms)`,
      "",
      "| batch | examples/s | p50 ms | p95 ms | p99 ms | CPU utilisation |",
      "| --- | --- | --- | --- | --- | --- |",
      ...p.results.map((r) => `| ${r.batchSize} | ${f(r.throughput, 0)} | ${f(r.latencyMs.p50)} | ${f(r.latencyMs.p95)} | ${f(r.latencyMs.p99)} | ${f(r.cpu.utilisation, 2)} |`),
      "",
    ]),
    `## Profiler overhead (mlp-784-128-10, 1 intra-op thread, ${OVERHEAD_SECONDS} s per side, 2 alternating rounds)`,
    "",
    "Examples per second of wall time, and per CPU-second of the process (steadier when the machine is shared).",
    "",
    "| batch | bare loop ex/s | profiler ex/s | profiler / bare | bare ex/CPU-s | profiler ex/CPU-s | profiler / bare |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...profiler.overhead.map(
      (o) => `| ${o.batch} | ${f(o.bare.examplesPerSecond, 0)} | ${f(o.profiler.examplesPerSecond, 0)} | ${f(o.ratioWall)} | ${f(o.bare.examplesPerCpuSecond, 0)} | ${f(o.profiler.examplesPerCpuSecond, 0)} | ${f(o.ratioPerCpu)} |`,
    ),
    "",
    `## fs registry operations (20 versions per artifact, fsync on write) — section peak RSS ${f(registry.peakRssMB, 0)} MB`,
    "",
    "| artifact | size | register p50/p95 ms | get(n) p50/p95 ms | get(champion) p50/p95 ms | readArtifact p50/p95 ms | promote p50/p95 ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...registry.results.map((r) => {
      const cell = (s: { p50: number; p95: number }) => `${f(s.p50, 2)} / ${f(s.p95, 2)}`;
      return `| ${r.artifact} | ${(r.bytes / 1024 ** 2).toFixed(2)} MiB | ${cell(r.ms.register)} | ${cell(r.ms.get)} | ${cell(r.ms.getChampion)} | ${cell(r.ms.readArtifact)} | ${cell(r.ms.promote)} |`;
    }),
    "",
  ].join("\n");
  writeFileSync(path.join(out, "profiler-and-registry.md"), md);
  process.stdout.write(md);
}
