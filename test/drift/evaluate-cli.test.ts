/** `evoflow drift eval` as a user runs it: the real CLI in a child process. */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = join(__dirname, "../../bin/evoflow.js");
const dir = mkdtempSync(join(tmpdir(), "evoflow-drift-eval-"));

function evoflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("node", [BIN, ...args], { cwd: dir }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("evoflow drift eval", () => {
  it("--alarms scores given alarms as River's report does, as JSON", async () => {
    const r = await evoflow(["drift", "eval", "--alarms", "110,900", "--drifts", "100,500", "--delta-max", "50", "--samples", "1000", "--unit", "1000", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout);
    expect(row).toMatchObject({ precision: 0.5, episode_recall: 0.5, f1: 0.5, detection_delay: 10, normalized_detection_time: 0.2, false_alarm_rate: 1, n_samples: 1000 });
    expect(row.mean_time_between_false_alarms).toBeNull(); // NaN: one false alarm has no gap
  });

  it("prints a table with River's metric names", async () => {
    const r = await evoflow(["drift", "eval", "--alarms", "110,900", "--drifts", "100,500", "--delta-max", "50", "--samples", "1000"]);
    expect(r.stdout.split("\n")[0]).toMatch(/precision +recall +episode_recall +f1 +missed_detection_rate +detection_delay/);
    expect(r.stdout).toMatch(/alarms +\{\} +0\.5000/);
  });

  it("runs a --grid of ADWIN configurations on a synthetic abrupt stream", async () => {
    const r = await evoflow(["drift", "eval", "--detector", "adwin", "--grid", "clock=1,32", "--stream", "abrupt", "--n", "2000", "--drifts", "1000", "--delta-max", "200", "--json"]);
    expect(r.stderr).toBe("");
    const rows = JSON.parse(r.stdout);
    expect(rows.map((x: { params: unknown }) => x.params)).toEqual([{ clock: 1 }, { clock: 32 }]);
    expect(rows[1].detection_delay).toBe(23);
    expect(rows[0].detection_delay).toBeLessThan(23); // checking every value finds it sooner
    expect(rows[0].updates_per_second).toBeGreaterThan(0);
  });

  it("reads a JSONL stream with a gradual drift interval, confined to the current folder", async () => {
    const values = Array.from({ length: 2000 }, (_, i) => (i < 800 ? 0 : i < 1000 ? (i % 2 ? 1 : 0) : 1) + ((i * 7919) % 13) / 100);
    writeFileSync(join(dir, "s.jsonl"), values.map((x) => JSON.stringify({ x })).join("\n"));
    const r = await evoflow(["drift", "eval", "--detector", "page-hinkley", "--input", "s.jsonl", "--drifts", "800-1000", "--delta-max", "100", "--json"]);
    expect(r.stderr).toBe("");
    const [row] = JSON.parse(r.stdout);
    expect(row).toMatchObject({ detector: "page-hinkley", n_samples: 2000, episode_recall: 1 });
    const out = await evoflow(["drift", "eval", "--input", "../etc/passwd", "--drifts", "1"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/leaves the current folder/);
  });

  it("refuses bad parameters with the node schema's message", async () => {
    const r = await evoflow(["drift", "eval", "--detector", "adwin", "--grid", "delta=3"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/adwin delta: .*1/);
  });

  it("scores two-sample detectors by their windows: an alarm is the value ending the window whose test drifted", async () => {
    // A 10-noise-sd step at 1050; reference 0..199, then windows of 100 values.
    const r = await evoflow(["drift", "eval", "--detector", "ks", "--grid", "reference-size=200", "--grid", "window=100", "--grid", "every=100,10", "--stream", "abrupt", "--n", "2000", "--drifts", "1050", "--delta-max", "200", "--json"]);
    expect(r.stderr).toBe("");
    const [apart, sliding] = JSON.parse(r.stdout);
    expect(apart.params).toEqual({ referenceSize: 200, window: 100, every: 100 });
    // Windows that do not overlap end at 299, 399, … : the first holding the change ends at 1099.
    expect(apart).toMatchObject({ detector: "ks", episode_recall: 1, precision: 1, detection_delay: 49, false_alarm_rate: 0 });
    // Tested every 10 values, the window ending at 1059 already holds 10 values of the new level, all beyond the old ones.
    expect(sliding).toMatchObject({ episode_recall: 1, precision: 1, detection_delay: 9 });
  });

  it("checks a two-sample detector's parameters with its node's schema, and names every detector for an unknown one", async () => {
    const bad = await evoflow(["drift", "eval", "--detector", "ks", "--grid", "window=1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ks window: .*2/);
    const unknown = await evoflow(["drift", "eval", "--detector", "cusum"]);
    expect(unknown.stderr).toMatch(/unknown detector "cusum"; detectors: adwin, .*ks, chi-square, psi, wasserstein, mmd/);
  });
});
