/**
 * The bundle bin/evoflow.js runs when it is fresh (scripts/build-runtime.mjs): built here into
 * a folder of its own, it must find the project's files and start the trainer's child process
 * without tsx — the Fashion-MNIST example's bootstrap trains its first model in that process.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const outdir = `.bundle-test-${process.pid}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "evoflow-bundle-"));

beforeAll(() => {
  const built = spawnSync(process.execPath, ["scripts/build-runtime.mjs", outdir], { cwd: root, encoding: "utf8" });
  expect(built.status, built.stderr).toBe(0);
});
afterAll(() => {
  rmSync(path.join(root, outdir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the runtime bundle", () => {
  it("runs a command", () => {
    const run = spawnSync(process.execPath, [`${outdir}/main.js`, "validate", "pipelines/hello-http.json", "pipelines/fashion-mnist-cl.json"], { cwd: root, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });

  it("loads its own node package built beside it, and a package outside gets the bundle's SDK", () => {
    const run = spawnSync(process.execPath, [`${outdir}/main.js`, "nodes", "list", "--packages", "--json", "--nodes", "examples/node-package"], { cwd: root, encoding: "utf8" });
    expect(run.stderr).toBe("");
    const packages = JSON.parse(run.stdout) as { name: string; dir: string; types: string[] }[];
    expect(packages.map((p) => [p.name, p.dir])).toEqual([
      ["@evoflow/nodes", path.join(root, outdir, "nodes")],
      ["evoflow-nodes-acme", path.join(root, "examples/node-package")],
    ]);
    expect(packages[1].types).toEqual(["acme.count", "acme.scale"]);
  });

  it("serves the Fashion-MNIST example, whose bootstrap trains in the child process", async () => {
    const child = spawn(process.execPath, [`${outdir}/main.js`, "run", "pipelines/fashion-mnist-cl.json", "--port", "0", "--data", dataDir, "--no-auth"], { cwd: root });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no bootstrap within 60 s:\n${output}`)), 60_000);
        const check = () => {
          if (/bootstrapped fmnist@1/.test(output) && /evoflow listening on/.test(output)) (clearTimeout(timer), resolve());
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
        child.once("exit", (code) => reject(new Error(`exited with ${code}:\n${output}`)));
      });
      const url = /evoflow listening on (\S+)/.exec(output)![1];
      const pipelines = (await (await fetch(`${url}/api/pipelines`)).json()) as { name: string }[] | { pipelines: { name: string }[] };
      expect(JSON.stringify(pipelines)).toContain("fashion-mnist-cl");
      expect(output).not.toMatch(/error/i);
    } finally {
      child.kill("SIGTERM");
    }
  }, 90_000);
});
