/**
 * `evoflow history <service>` and `evoflow card <model@version>`: a CL service's updates and
 * a model version's card, read from the data folder (history under `<data>/cl/history`, the
 * registry in `$EVOFLOW_REGISTRY` or `<data>/registry`, as `evoflow run` uses them) or, with
 * `--url`, from a running runtime's API. Commands of Evoflow's own node package (nodes/package.json "commands").
 */
import path from "node:path";
import type { Command } from "commander";
import { parseModelRef, type CommandHost } from "../../sdk";
import { findModelCard, historyRoot, HistoryStore, type HistoryEntry, type ModelCard } from "./history";
import { rolloutSummary } from "./rollout-summary";

/** With --url: the token from --token, EVOFLOW_TOKEN or the data folder's token file, as `evoflow run` saved it. */
export async function getJson(host: CommandHost, url: string, opts: { token?: string; data: string }): Promise<unknown> {
  const res = await fetch(url, { headers: host.authHeaders(opts) });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error((body as { error?: string }).error ?? `HTTP ${res.status}`);
  return body;
}

const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "-" : `${(100 * v).toFixed(1)}%`);

function historyTable(host: CommandHost, entries: HistoryEntry[]): string {
  return host.formatTable(
    ["version", "at", "decision", "trigger", "scenario", "strategy", "examples", "train s", "holdout", "avg acc", "BWT", "rollout", "why"],
    entries.map((e) => [
      e.version === undefined ? "-" : `${e.model}@${e.version}`,
      e.at.replace("T", " ").slice(0, 19),
      e.decision,
      e.trigger.reason ? `${e.trigger.kind}: ${e.trigger.reason}` : e.trigger.kind,
      e.scenario ?? "-",
      [e.strategy.mode, e.strategy.replay ? "replay" : "", e.strategy.ewc ? "ewc" : "", e.strategy.lwf ? "lwf" : ""].filter(Boolean).join("+") || e.strategy.trainer,
      String(e.snapshot?.count ?? "-"),
      e.trainingMs === undefined ? "-" : (e.trainingMs / 1000).toFixed(1),
      pct(e.metrics?.holdoutAccuracy),
      pct(e.metrics?.averageAccuracy),
      e.metrics ? e.metrics.bwt.toFixed(3) : "-",
      rolloutSummary(e.rollout, e.bandit),
      [...(e.validation?.reasons ?? []), e.reason, e.error].filter(Boolean).join("; "),
    ]),
  );
}

function cardText(host: CommandHost, card: ModelCard): string {
  const lines = [`${card.model}@${card.version}  ${card.status ?? card.decision ?? ""}`];
  const add = (k: string, v: unknown) => v !== undefined && lines.push(`  ${k.padEnd(12)} ${typeof v === "string" ? v : JSON.stringify(v)}`);
  add("created", card.createdAt);
  add("service", card.service);
  add("trigger", card.trigger);
  add("scenario", card.scenario);
  add("strategy", card.strategy);
  add("data", card.data);
  add("lineage", card.lineage);
  add("training", card.training);
  add("size", card.sizeBytes === undefined ? undefined : `${card.sizeBytes} bytes`);
  if (card.metrics) {
    const { accuracyMatrix, ...rest } = card.metrics;
    add("metrics", rest);
    if (accuracyMatrix) lines.push("  accuracy matrix (rows: updates, columns: experiences)", ...accuracyMatrix.map((r) => `    ${r.map((v) => (v === null ? "   -  " : pct(v).padStart(6))).join(" ")}`));
  }
  const validation = card.validation as { passed?: boolean; checks?: unknown } | undefined;
  if (validation) {
    lines.push(`  validation   ${validation.passed ? "passed" : "FAILED"}`);
    const checks = Array.isArray(validation.checks) ? validation.checks : Object.values(validation.checks ?? {});
    for (const c of checks as { name: string; passed: boolean; detail?: string }[]) lines.push(`    ${c.passed ? "ok  " : "FAIL"} ${c.name}: ${c.detail ?? ""}`);
  }
  add("decision", card.decision);
  add("rollout", card.rollout);
  const profile = card.profile;
  if (profile) {
    lines.push(`  profile      ${profile.runtime} on ${profile.executionProvider}, ${profile.createdAt}${profile.measuredBy ? `, by the ${profile.measuredBy}` : ""}`);
    const table = host.formatTable(
      ["batch", "examples/s", "p50 ms", "p95 ms", "p99 ms"],
      profile.results.map((r) => [String(r.batchSize), r.throughput.toFixed(0), r.latencyMs.p50.toFixed(3), r.latencyMs.p95.toFixed(3), r.latencyMs.p99.toFixed(3)]),
    );
    lines.push(...table.trimEnd().split("\n").map((l) => `    ${l}`));
  }
  return lines.join("\n") + "\n";
}

async function run(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

export default function register(program: Command, host: CommandHost): void {
  program
    .command("history")
    .description("every model update of a CL service, accepted or rejected, with its trigger, data, strategy, metrics and validation")
    .argument("<service>", "the CL service (its pipeline name)")
    .option("--data <dir>", "data folder", ".evoflow")
    .option("--url <url>", "ask a running runtime's API instead of reading the data folder")
    .option("--token <token>", "with --url: API token (default: EVOFLOW_TOKEN, else <data>/token)")
    .option("--json", "print JSON")
    .action((service: string, opts: { data: string; url?: string; token?: string; json?: boolean }) =>
      run(async () => {
        const entries = opts.url
          ? ((await getJson(host, `${opts.url}/api/services/${encodeURIComponent(service)}/history`, opts)) as { entries: HistoryEntry[] }).entries
          : await new HistoryStore(historyRoot(opts.data)).list(service);
        if (!opts.url && !entries.length) throw new Error(`no history for service "${service}" in ${historyRoot(opts.data)}`);
        process.stdout.write(opts.json ? `${JSON.stringify(entries, null, 2)}\n` : historyTable(host, entries));
      }),
    );

  program
    .command("card")
    .description("the model card of a version: lineage, data, strategy, CL metrics, validation report, decision, profile (latency per batch size)")
    .argument("<model@version>", "e.g. fmnist@3, fmnist@champion")
    .option("--data <dir>", "data folder", ".evoflow")
    .option("--registry <dir>", "registry folder (default: $EVOFLOW_REGISTRY or <data>/registry)")
    .option("--url <url>", "ask a running runtime's API instead")
    .option("--token <token>", "with --url: API token (default: EVOFLOW_TOKEN, else <data>/token)")
    .option("--json", "print JSON")
    .action((ref: string, opts: { data: string; registry?: string; url?: string; token?: string; json?: boolean }) =>
      run(async () => {
        const parsed = parseModelRef(ref, "champion");
        let card: ModelCard | undefined;
        if (opts.url) card = (await getJson(host, `${opts.url}/api/models/${encodeURIComponent(parsed.name)}/${parsed.ref}/card`, opts)) as ModelCard;
        else {
          const registry = await host.openRegistry(opts.registry ?? (process.env.EVOFLOW_REGISTRY || path.join(opts.data, "registry")));
          try {
            card = await findModelCard(registry, new HistoryStore(historyRoot(opts.data)), parsed.name, parsed.ref);
          } finally {
            await registry.close();
          }
        }
        if (!card) throw new Error(`no model ${ref} in the registry or the CL history`);
        process.stdout.write(opts.json ? `${JSON.stringify(card, null, 2)}\n` : cardText(host, card));
      }),
    );
}
