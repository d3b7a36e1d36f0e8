/**
 * The package's own test: its nodes in a pipeline, run by the real `evoflow run` with the
 * package given as `--nodes <this folder>` (how an author runs a package under development),
 * asked over HTTP as any client would. In a package of its own, `evoflow` is
 * node_modules/.bin/evoflow; here it is the repository's.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const here = path.resolve(import.meta.dirname, "..");
const evoflow = path.resolve(here, "../../bin/evoflow.js");
const dataDir = mkdtempSync(path.join(tmpdir(), "acme-"));
let child: ChildProcess;
let url: string;
let token: string;

beforeAll(async () => {
  child = spawn(process.execPath, [evoflow, "run", path.join(here, "test/acme-demo.json"), "--nodes", here, "--port", "0", "--data", dataDir]);
  let output = "";
  url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (d) => (output += d));
    child.stdout!.on("data", (d) => {
      output += d;
      const found = /evoflow listening on (\S+)/.exec(output);
      if (found) resolve(found[1]);
    });
    child.once("exit", (code) => reject(new Error(`evoflow run exited with ${code}:\n${output}`)));
  });
  token = readFileSync(path.join(dataDir, "token"), "utf8").trim();
});
afterAll(() => child?.kill("SIGTERM"));

async function ask(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/pipelines/acme-demo`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("evoflow-nodes-acme", () => {
  it("scales the value and counts the requests, keeping its count between messages", async () => {
    expect(await ask({ value: 21 })).toEqual({ status: 200, body: { value: 42, count: 1 } });
    expect(await ask({ value: 1.5, id: "b" })).toEqual({ status: 200, body: { value: 3, id: "b", count: 2 } });
  });

  it("answers a value that is no number with its reason, and serves on", async () => {
    const refused = await ask({ value: "ten" });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.body.error).toBe('acme.scale: field "value" is not a number');
    expect((await ask({ value: 5 })).body).toEqual({ value: 10, count: 3 });
  });
});
