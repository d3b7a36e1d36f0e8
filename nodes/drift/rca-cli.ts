/**
 * `evoflow rca [alarmId]`: where the shift behind a drift alarm entered the pipeline, from a
 * running runtime's API (`GET /api/alarms/:id/rca`, rca.ts). Without an id: the alarms kept.
 * The token comes from --token, EVOFLOW_TOKEN or the data folder's token file. A command of
 * Evoflow's own node package (nodes/package.json "commands").
 */
import type { Command } from "commander";
import type { CommandHost } from "../../sdk";
import type { AlarmSummary, RcaReport } from "../../sdk/api-types";
import { getJson } from "../continual-learning/cli";

const DEFAULT_URL = process.env.EVOFLOW_URL ?? "http://127.0.0.1:8080";
const num = (v: number) => (v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) ? String(Number(v.toPrecision(4))) : v.toExponential(2));

export function reportText(host: CommandHost, report: RcaReport, top: number): string {
  const { alarm, entry } = report;
  const lines = [
    `alarm ${alarm.id}: ${alarm.pipeline}/${alarm.node} at ${new Date(alarm.ts).toISOString()}${alarm.reason ? `  ${alarm.reason}` : ""}`,
    entry
      ? `shift entered at edge ${entry.edge} (${entry.from} -> ${entry.to}), feature ${entry.feature}: ${entry.test} ${num(entry.statistic)}, p = ${num(entry.pValue)}`
      : "no upstream edge shifted significantly",
    `${report.ranking.length} tests, ${report.correction} over all of them: p < ${num(report.threshold)} (alpha ${report.alpha})`,
    "",
    host.formatTable(
      ["rank", "stage", "edge", "feature", "test", "statistic", "p", "shifted", "before", "after"],
      report.ranking.slice(0, top).map((t, i) => [String(i + 1), String(t.stage), t.edge, t.feature, t.test, num(t.statistic), num(t.pValue), t.significant ? "yes" : "no", String(t.before), String(t.after)]),
    ),
  ];
  if (report.ranking.length > top) lines.push(`(${report.ranking.length - top} more: --top ${report.ranking.length})`);
  if (report.skipped.length) lines.push(`not tested: ${report.skipped.map((s) => `${s.edge} ${s.feature} (${s.reason})`).join("; ")}`);
  return `${lines.join("\n")}\n`;
}

export default function register(program: Command, host: CommandHost): void {
  program
    .command("rca")
    .description("rank where the shift behind a drift alarm entered the pipeline: two-sample tests on every upstream edge and feature, before vs after the alarm; without an id, list the alarms kept")
    .argument("[alarmId]")
    .option("--url <url>", "runtime API", DEFAULT_URL)
    .option("--token <token>", "API token (default: EVOFLOW_TOKEN, else <data>/token)")
    .option("--data <dir>", "data folder holding the server's token", ".evoflow")
    .option("--pipeline <name>", "list this pipeline's alarms only")
    .option("--alpha <p>", "significance level before the correction", "0.05")
    .option("--correction <kind>", "bonferroni or fdr, over all tests", "bonferroni")
    .option("--mmd", "also test each edge's numeric features jointly (MMD)")
    .option("--top <n>", "rows of the ranking to print", "20")
    .option("--json", "print the report as JSON")
    .action(async (id: string | undefined, opts: { url: string; token?: string; data: string; pipeline?: string; alpha: string; correction: string; mmd?: boolean; top: string; json?: boolean }) => {
      try {
        if (id === undefined) {
          const query = opts.pipeline ? `?pipeline=${encodeURIComponent(opts.pipeline)}` : "";
          const { alarms } = (await getJson(host, `${opts.url}/api/alarms${query}`, opts)) as { alarms: AlarmSummary[] };
          if (opts.json) process.stdout.write(`${JSON.stringify(alarms, null, 2)}\n`);
          else if (alarms.length === 0) process.stdout.write("no drift alarm kept\n");
          else process.stdout.write(host.formatTable(["id", "at", "pipeline", "node", "reason"], alarms.map((a) => [a.id, new Date(a.ts).toISOString(), a.pipeline, a.node, a.reason ?? ""])));
          return;
        }
        const query = new URLSearchParams({ alpha: opts.alpha, correction: opts.correction, mmd: String(Boolean(opts.mmd)) });
        const report = (await getJson(host, `${opts.url}/api/alarms/${encodeURIComponent(id)}/rca?${query}`, opts)) as RcaReport;
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : reportText(host, report, Math.max(1, Number(opts.top) || 20)));
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
