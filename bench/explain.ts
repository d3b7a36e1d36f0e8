/**
 * What an explanation costs on a Fashion-MNIST-sized model: an MLP 784-128-10 (seeded weights:
 * the cost does not depend on them) run by onnxruntime in the in-process agent, explaining real
 * test images from Debian's dataset-fashion-mnist. Kernel SHAP samples `--samples` coalitions
 * (784 features: no enumeration) against `--background` images; occlusion slides a 4×4 patch by 2.
 * Per method: median wall time of `--images` explanations, model rows scored and rows/s; and the
 * process's peak RSS. Writes bench/results/explain.json and .md.
 *
 * Run: node --import tsx bench/explain.ts [--images 3] [--samples 1024] [--background 32] (the node's defaults)
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { ModelHost } from "../gpu-agent/host";
import { OnnxRuntimeBackend } from "../gpu-agent/onnxruntime";
import { LocalModels } from "../gpu-agent/service";
import { explainWithOcclusion, explainWithShap, occlusionOptions, shapOptions } from "../nodes/explain/explain";
import { modelScorer } from "../nodes/explain/model-scorer";
import type { Explanation, Tensor } from "../sdk";
import { tempDir } from "../test/agent/helpers";
import { makeMlp } from "../test/fixtures/mlp";
import { benchDir, machine, mb, numberArg, peakRss, round } from "./agent-bench-lib";

const images = numberArg("images", 3);
const samples = numberArg("samples", 1024);
const backgroundSize = numberArg("background", 32);
const loadAtStart = round(loadavg()[0], 2);

const raw = gunzipSync(readFileSync("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")).subarray(16);
const image = (i: number) => Float32Array.from(raw.subarray(i * 784, (i + 1) * 784), (v) => v / 255);

const mlp = makeMlp({ sizes: [784, 128, 10], seed: 3 });
const host = new ModelHost({ backend: new OnnxRuntimeBackend({ executionProvider: "cpu" }), memoryBytes: 256e6, cacheDir: tempDir("explain-bench") });
await host.assign({ name: "fmnist", version: 1, artifact: mlp.bytes });
const models = new LocalModels(host);
const model = { name: "fmnist", version: 1 };
const background = Array.from({ length: backgroundSize }, (_, i) => Float64Array.from(image(1000 + i)));

async function measure(explain: (x: Tensor) => Promise<Explanation>) {
  const runs: Explanation[] = [];
  for (let i = 0; i < images; i++) {
    runs.push(await explain({ dtype: "float32", shape: [1, 784], data: image(i) }));
    process.stderr.write(`  ${runs.at(-1)!.method} image ${i + 1}/${images}: ${runs.at(-1)!.ms} ms\n`);
  }
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  return { medianMs: ms, modelRows: runs[0].evaluations, rowsPerSecond: Math.round((runs[0].evaluations / ms) * 1000) };
}

const shap = await measure(async (x) => explainWithShap(await modelScorer(models, model, x, { target: "predicted" }), background, shapOptions.parse({ samples })));
const occlusion = await measure(async (x) => explainWithOcclusion(await modelScorer(models, model, x, { target: "predicted" }), occlusionOptions.parse({ patch: 4, stride: 2 })));
await models.close();

const record = {
  benchmark: "explainers on a 784-128-10 MLP (Fashion-MNIST test images)",
  command: `node --import tsx bench/explain.ts --images ${images} --samples ${samples} --background ${backgroundSize}`,
  date: new Date().toISOString(),
  machine: machine(),
  loadAverage: { atStart: loadAtStart, atEnd: round(loadavg()[0], 2) },
  peakRssMB: mb(peakRss()),
  kernelShap: { samples, background: backgroundSize, ...shap },
  occlusion: { patch: 4, stride: 2, ...occlusion },
};
writeFileSync(join(benchDir, "results/explain.json"), `${JSON.stringify(record, null, 2)}\n`);
writeFileSync(
  join(benchDir, "results/explain.md"),
  `# ${record.benchmark}

\`${record.command}\` on ${record.machine.cpu} (${record.machine.cores} cores, shared with other sessions: load average ${loadAtStart} at start, ${record.loadAverage.atEnd} at end), ${record.date}. A short run on a busy machine.

| method | settings | median ms per explanation | model rows | rows/s |
| --- | --- | --- | --- | --- |
| Kernel SHAP | ${samples} coalitions × ${backgroundSize} background images | ${shap.medianMs} | ${shap.modelRows} | ${shap.rowsPerSecond} |
| occlusion | 4×4 patch, stride 2 | ${occlusion.medianMs} | ${occlusion.modelRows} | ${occlusion.rowsPerSecond} |

Peak RSS of the process: ${record.peakRssMB} MB.
`,
);
process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
