/**
 * `evoflow explain <traceId>`: explains the model call of one traced request on a running
 * runtime (`POST /api/traces/:traceId/explain`, nodes/explain/api.ts), which keeps the
 * explanation in the trace, and prints the largest attributions. A command of Evoflow's own
 * node package (nodes/package.json "commands").
 */
import cliProgress from "cli-progress";
import type { Command } from "commander";
import type { CommandHost, Explanation } from "../../sdk";

type Options = {
  url: string;
  token?: string;
  data: string;
  method: string;
  node?: string;
  target?: string;
  samples?: string;
  background?: string;
  patch?: string;
  stride?: string;
  fill?: string;
  height?: string;
  width?: string;
  top: string;
  json?: boolean;
};

const num = (v: number) => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(3) : v.toFixed(4));

/** Numbers as numbers; "predicted" and "mean" stay words for the route to check. */
const value = (raw: string | undefined) => (raw === undefined ? undefined : Number.isNaN(Number(raw)) ? raw : Number(raw));

function requestBody(opts: Options): Record<string, unknown> {
  const body: Record<string, unknown> = { method: opts.method, node: opts.node, target: value(opts.target) };
  if (opts.method === "kernel-shap") Object.assign(body, { samples: value(opts.samples), background: value(opts.background) });
  else Object.assign(body, { patch: value(opts.patch), stride: value(opts.stride), fill: value(opts.fill), height: value(opts.height), width: value(opts.width) });
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

function describe(e: Explanation, pipeline: string, traceId: string, top: number, host: CommandHost): string {
  const lines = [`trace ${traceId} in pipeline ${pipeline}: ${e.method} of model ${e.model.name}@${e.model.version}, ${e.output}[${e.target}]`];
  const values = Array.from(e.attributions.data as ArrayLike<number>);
  if (e.method === "kernel-shap") {
    lines.push(`score ${num(e.score)}  base ${num(e.baseValue!)}  sum of attributions ${num(values.reduce((s, v) => s + v, 0))}`);
    lines.push(`${e.exact ? "exact" : "sampled"}: ${e.coalitions} coalitions × ${e.background} background rows, ${e.evaluations} model rows, ${e.ms} ms`);
    const rows = values
      .map((v, i) => ({ i, v }))
      .sort((a, b) => Math.abs(b.v) - Math.abs(a.v))
      .slice(0, top)
      .map(({ i, v }) => [String(i), num(v)]);
    lines.push(host.formatTable(["feature", "attribution"], rows).trimEnd());
  } else {
    lines.push(`score ${num(e.score)}  patch ${e.patch!.size}px stride ${e.patch!.stride} fill ${e.patch!.fill}, ${e.evaluations} model rows, ${e.ms} ms`);
    const rows = (e.topPatches ?? []).slice(0, top).map((p) => [String(p.y), String(p.x), num(p.drop)]);
    lines.push(host.formatTable(["y", "x", "score drop"], rows).trimEnd());
  }
  return `${lines.join("\n")}\n`;
}

type Answer = { error?: string; problems?: { path: string; message: string }[]; pipeline: string; explanation: Explanation };

/** The route's answer: JSON, or NDJSON progress lines (a bar on a terminal's stderr) ending with the answer. */
async function readAnswer(res: Response): Promise<Answer> {
  if (!res.headers.get("content-type")?.includes("application/x-ndjson") || !res.body)
    return (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as Answer;
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: "explaining {bar} {percentage}% | {value}/{total} model rows" }, cliProgress.Presets.shades_classic) : undefined;
  let last: Answer | undefined;
  let pending = "";
  let started = false;
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      const lines = (pending += decoder.decode(chunk.value, { stream: true })).split("\n");
      pending = lines.pop()!;
      for (const line of lines.filter(Boolean)) {
        const parsed = JSON.parse(line) as Answer & { progress?: { done: number; total: number } };
        if (!parsed.progress) last = parsed;
        else if (started) bar?.update(parsed.progress.done);
        else (started = true), bar?.start(parsed.progress.total, parsed.progress.done);
      }
    }
  } finally {
    bar?.stop();
  }
  return last ?? { error: "the runtime ended the answer before it was complete" } as Answer;
}

export default function register(program: Command, host: CommandHost): void {
  program
    .command("explain")
    .description("explain the model call of a traced request (Kernel SHAP, or occlusion for images) and keep the explanation in the trace")
    .argument("<traceId>")
    .option("--method <method>", "kernel-shap or occlusion", "kernel-shap")
    .option("--node <id>", "the model node, when the trace passed several")
    .option("--target <index>", 'the output index explained, or "predicted"')
    .option("--samples <n>", "kernel-shap: coalitions sampled when there are too many features to enumerate")
    .option("--background <n>", "kernel-shap: how many of the model's recent inputs form the background")
    .option("--patch <px>", "occlusion: patch side")
    .option("--stride <px>", "occlusion: pixels between patches")
    .option("--fill <value>", 'occlusion: what covers a patch, a number or "mean"')
    .option("--height <px>", "occlusion: image height, when the input's shape does not say")
    .option("--width <px>", "occlusion: image width, when the input's shape does not say")
    .option("--top <n>", "attributions (or patches) printed", "10")
    .option("--url <url>", "runtime API", process.env.EVOFLOW_URL ?? "http://127.0.0.1:8080")
    .option("--token <token>", "API token (default: EVOFLOW_TOKEN, else <data>/token)")
    .option("--data <dir>", "data folder holding the server's token", ".evoflow")
    .option("--json", "print the answer as JSON")
    .action(async (traceId: string, opts: Options) => {
      try {
        const res = await fetch(`${opts.url}/api/traces/${encodeURIComponent(traceId)}/explain`, {
          method: "POST",
          headers: { ...host.authHeaders(opts), "content-type": "application/json", accept: "application/x-ndjson, application/json" },
          body: JSON.stringify(requestBody(opts)),
        });
        const answer = await readAnswer(res);
        if (!res.ok || answer.error) throw new Error([answer.error ?? `HTTP ${res.status}`, ...(answer.problems ?? []).map((p) => `  ${p.path}: ${p.message}`)].join("\n"));
        process.stdout.write(opts.json ? `${JSON.stringify(answer, null, 2)}\n` : describe(answer.explanation, answer.pipeline, traceId, Number(opts.top), host));
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
