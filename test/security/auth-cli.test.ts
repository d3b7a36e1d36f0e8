/**
 * The token as a user meets it: `evoflow run` and `serve` as real processes print a
 * tokenised editor URL, keep the token in the data folder (0600, the same one after a
 * restart), and the CLI's API commands find it there with no flag. `--no-auth` beyond
 * loopback and a bad settings file stop the server with exit 2.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const BIN = "bin/evoflow.js";
const children: ChildProcess[] = [];

/** Starts the CLI and resolves with what it printed once the editor URL is out. */
function startServer(args: string[], env: Record<string, string> = {}): Promise<{ out: string; err: () => string; url: string; editor: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, EVOFLOW_TOKEN: "", ...env } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const listening = /listening on (http:\/\/\S+)/.exec(out);
      const editor = /editor: (http:\/\/\S+)/.exec(out);
      if (listening && editor) resolve({ out, err: () => err, url: listening[1], editor: editor[1] });
    });
    child.once("exit", (code) => reject(new Error(`evoflow exited with ${code}: ${err}`)));
  });
}

async function stopAll() {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null) continue;
    c.kill("SIGTERM");
    await new Promise((r) => c.once("exit", r));
  }
}
afterEach(stopAll);

const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, EVOFLOW_TOKEN: "", ...env } });
const dataDir = () => mkdtempSync(join(tmpdir(), "evoflow-auth-cli-"));

describe("the token of evoflow run and serve", () => {
  it("refuses --no-auth unless it listens on loopback only", () => {
    const refused = cli(["run", "pipelines/hello-http.json", "--host", "0.0.0.0", "--port", "0", "--no-auth", "--data", dataDir()]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^refusing --no-auth on 0\.0\.0\.0: anyone who can reach that address could deploy pipelines/);
  });

  it("prints the editor URL with a generated token, saves it 0600, and the CLI finds it; a restart keeps it", async () => {
    const data = dataDir();
    const first = await startServer(["run", "pipelines/hello-http.json", "--port", "0", "--data", data]);
    const token = readFileSync(join(data, "token"), "utf8").trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(statSync(join(data, "token")).mode & 0o777).toBe(0o600);
    expect(first.editor).toBe(`${first.url}/?token=${token}#/pipelines/hello`);
    // The URL line is the only place it is printed.
    expect(first.out.split(token).length - 1).toBe(1);

    expect((await fetch(`${first.url}/api/pipelines`)).status).toBe(401);
    const answered = await fetch(`${first.url}/pipelines/hello`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ x: [1, 3] }) });
    expect(await answered.json()).toEqual({ sum: 4, mean: 2, n: 2, pipeline: "hello" });

    const tap = cli(["tap", "hello", "request_out-log_in", "--url", first.url, "--data", data]);
    expect(tap.stderr).toBe("");
    expect(tap.status).toBe(0);
    expect(JSON.parse(tap.stdout.trim().split("\n").at(-1)!)).toMatchObject({ payload: { x: [1, 3] } });
    const history = cli(["history", "hello", "--url", first.url, "--data", data, "--json"]);
    expect([history.status, JSON.parse(history.stdout)]).toEqual([0, []]);
    // Elsewhere, without the data folder, the token comes from EVOFLOW_TOKEN; without either: refused.
    expect(cli(["tap", "hello", "request_out-log_in", "--url", first.url, "--data", dataDir()], { EVOFLOW_TOKEN: token }).status).toBe(0);
    const without = cli(["tap", "hello", "request_out-log_in", "--url", first.url, "--data", dataDir()]);
    expect(without.status).toBe(1);
    expect(without.stderr).toMatch(/needs a token/);

    expect(first.err()).not.toContain(token); // nor logged, after requests with it in headers and a refused one
    await stopAll();
    const again = await startServer(["run", "pipelines/hello-http.json", "--port", "0", "--data", data]);
    expect(again.editor).toContain(`?token=${token}#`);
    expect(again.out).toContain(`token: from ${join(data, "token")}`);
  });

  it("serve starts with no pipelines; tokens from settings.json (plain, in a file, by SHA-256) have their roles; --token is not written down", async () => {
    const data = dataDir();
    writeFileSync(join(data, "grafana.token"), "file-viewer-token-0123456789\n");
    const hashed = createHash("sha256").update("hashed-operator-token-0123456789").digest("hex");
    writeFileSync(
      join(data, "settings.json"),
      JSON.stringify({ tokens: [{ token: "viewer-token-0123456789", role: "viewer" }, { tokenFile: "grafana.token", role: "viewer" }, { tokenSha256: hashed, role: "operator" }] }),
    );
    const served = await startServer(["serve", "--port", "0", "--data", data, "--token", "operator-token-0123456789"]);
    expect(served.out).toContain("(pipelines: none yet)");
    expect(served.editor).toBe(`${served.url}/?token=operator-token-0123456789`);
    expect(() => statSync(join(data, "token"))).toThrow();
    const pipeline = readFileSync("pipelines/hello-http.json", "utf8");
    const deploy = (token: string) => fetch(`${served.url}/api/pipelines`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: pipeline });
    const viewer = await deploy("viewer-token-0123456789");
    expect([viewer.status, await viewer.json()]).toEqual([403, { error: "POST /api/pipelines needs role operator; this token has role viewer" }]);
    expect((await deploy("operator-token-0123456789")).status).toBe(201);
    expect((await fetch(`${served.url}/api/pipelines`, { headers: { authorization: "Bearer viewer-token-0123456789" } })).status).toBe(200);
    expect((await deploy("file-viewer-token-0123456789")).status).toBe(403);
    const stop = await fetch(`${served.url}/api/pipelines/hello`, { method: "DELETE", headers: { authorization: "Bearer hashed-operator-token-0123456789" } });
    expect(stop.status).toBe(200);
  });

  it("stops on a bad settings file with every problem's JSON path", () => {
    const data = dataDir();
    writeFileSync(join(data, "settings.json"), JSON.stringify({ tokens: [{ token: "short", role: "admin" }], openMetrics: "yes" }));
    const bad = cli(["serve", "--port", "0", "--data", data]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("$.tokens[0].token: a token needs at least 16 characters");
    expect(bad.stderr).toContain("$.tokens[0].role:");
    expect(bad.stderr).toContain("$.openMetrics:");
  });
});
