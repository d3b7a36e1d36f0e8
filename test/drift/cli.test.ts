/**
 * `evoflow drift` as a user runs it: the real CLI in a child process, over files
 * and stdin.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import streams from "./fixtures/river-streams.json";
import fixtures from "./fixtures/scipy.json";

const BIN = join(__dirname, "../../bin/evoflow.js");
const dir = mkdtempSync(join(tmpdir(), "evoflow-drift-cli-"));

function evoflow(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile("node", [BIN, ...args], { cwd: dir }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

const lines = (out: string) => out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

describe("evoflow drift", () => {
  writeFileSync(join(dir, "two.txt"), `${streams.twoDistributions.join("\n")}\n`);

  it("prints River's detection for ADWIN, one JSON line with the 0-based index", async () => {
    const r = await evoflow(["drift", "adwin", "two.txt"]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([expect.objectContaining({ index: 1023, detector: "adwin", statistic: expect.any(Number) })]);
  });

  it("takes parameters in kebab-case and reads stdin", async () => {
    const r = await evoflow(["drift", "kswin", "--alpha", "0.0001", "--seed", "42", "--window-size", "100", "-"], `${streams.twoDistributions.join("\n")}\n`);
    expect(lines(r.stdout).map((e) => e.index)).toEqual([1016]);
  });

  it("tests CSV columns against a reference file, one window, and --fail-on-drift sets the exit code", async () => {
    const ks = fixtures.ks.find((c) => c.a.length === 200 && c.b.length === 201)!;
    writeFileSync(join(dir, "ref.csv"), `id,value\n${ks.a.map((v, i) => `${i},${v}`).join("\n")}\n`);
    writeFileSync(join(dir, "cur.csv"), `value,id\n${ks.b.map((v, i) => `${v},${i}`).join("\n")}\n`);
    const r = await evoflow(["drift", "ks", "--reference", "ref.csv", "--column", "value", "--p-value", "0.05", "--fail-on-drift", "cur.csv"]);
    expect(r.stderr).toBe("");
    const events = lines(r.stdout);
    expect(events).toHaveLength(1); // SciPy: p = 0.048 < 0.05
    expect(events[0]).toMatchObject({ index: 200, detector: "ks", window: { size: 201, reference: 200 } });
    expect(Math.abs(events[0].pValue - ks.pValue)).toBeLessThan(1e-6);
    expect(r.code).toBe(1);
  });

  it("says what is wrong with a parameter or a method, with exit code 2", async () => {
    const bad = await evoflow(["drift", "adwin", "--delta", "3", "two.txt"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--delta: .*1/);
    const unknown = await evoflow(["drift", "cusum", "two.txt"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown method "cusum"; methods: adwin, ddm/);
    const reference = await evoflow(["drift", "adwin", "--reference", "two.txt", "two.txt"]);
    expect(reference.stderr).toMatch(/--reference is for two-sample methods/);
    writeFileSync(join(dir, "two-cols.csv"), "a,b\n1,2\n");
    const twoColumns = await evoflow(["drift", "ddm", "two-cols.csv"]);
    expect(twoColumns.stderr).toMatch(/pick a column with --column/);
  });
});
