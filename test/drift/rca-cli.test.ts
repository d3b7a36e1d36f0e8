/**
 * `evoflow rca` as a user runs it: `evoflow run` serving the planted-shift pipeline in a real
 * process, the CLI listing its alarm and printing the ranking, with the token the server saved.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RcaReport } from "../../sdk/api-types";
import { plantedShiftPipeline } from "./planted-shift";

describe("evoflow rca", () => {
  let server: ChildProcess;
  let url: string;
  let data: string;

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), "evoflow-rca-cli-"));
    writeFileSync(join(data, "planted-shift.json"), JSON.stringify(plantedShiftPipeline));
    server = spawn(process.execPath, ["bin/evoflow.js", "run", join(data, "planted-shift.json"), "--port", "0", "--data", data], { stdio: ["ignore", "pipe", "pipe"] });
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      server.stdout!.on("data", (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      server.once("exit", (code) => reject(new Error(`evoflow run exited with ${code}`)));
    });
  }, 60_000);
  afterAll(() => {
    server.kill("SIGTERM");
  });

  const cli = (args: string[]) => spawnSync(process.execPath, ["bin/evoflow.js", "rca", ...args, "--url", url, "--data", data], { encoding: "utf8" });

  it("lists the alarm and ranks the planted feature on the generator's edge first", async () => {
    let listed = cli([]);
    // The generator runs in the background: wait for its 900 messages to fire the detector.
    for (let i = 0; i < 100 && !/detector/.test(listed.stdout); i++) {
      await new Promise((r) => setTimeout(r, 100));
      listed = cli([]);
    }
    expect(listed.status).toBe(0);
    const [header, row] = listed.stdout.trim().split("\n");
    expect(header).toMatch(/^id\s+at\s+pipeline\s+node\s+reason$/);
    const id = row.split(/\s+/)[0];
    expect(row).toMatch(/planted-shift\s+detector\s+KS: statistic/);

    const text = cli([id, "--top", "3"]);
    expect(text.status, text.stderr).toBe(0);
    const lines = text.stdout.split("\n");
    expect(lines[1]).toMatch(/^shift entered at edge gen_out-A_in \(gen\.out -> A\.in\), feature payload\.x\[1\]: ks /);
    expect(lines.find((l) => l.startsWith("1 "))).toMatch(/^1\s+0\s+gen_out-A_in\s+payload\.x\[1\]\s+ks\s+\S+\s+\S+\s+yes\s+300\s+300$/);
    expect(text.stdout).toMatch(/not tested: .*gen_out-A_in payload\.i \(grows with every message/);

    const json = cli([id, "--json", "--correction", "fdr"]);
    const report = JSON.parse(json.stdout) as RcaReport;
    expect(report).toMatchObject({ correction: "fdr", entry: { edge: "gen_out-A_in", feature: "payload.x[1]" } });
  }, 60_000);

  it("fails with the server's reason for an alarm it does not keep", () => {
    const res = cli(["no-such-alarm"]);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/error: alarm no-such-alarm not found/);
  });
});
