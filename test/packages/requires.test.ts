/**
 * A pipeline's `requires`, as a user meets it: the example package packed with `npm pack` and
 * installed from the tarball into a data folder (as install.test.ts does), then `evoflow fmt`
 * filling `requires`, `evoflow validate` refusing a missing or mismatched package with the JSON
 * path and the install command, and the validate and deploy APIs of a real HTTP server saying
 * the same with a 400.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeTypes } from "../../runtime/node-types";
import { installCommand } from "../../runtime/requires";
import { validatePipeline } from "../../runtime/validate";
import { evoflow, post, ROOT, startRun, writePackage, type Server } from "./cli";

const example = path.join(ROOT, "examples/node-package");
const work = mkdtempSync(path.join(tmpdir(), "evoflow-requires-"));
const dataDir = path.join(work, "data");
const emptyData = path.join(work, "empty");

/** The example's demo pipeline without `requires`: what a user writes by hand. */
function demoWithout(): Record<string, unknown> {
  const { requires: _r, ...demo } = JSON.parse(readFileSync(path.join(example, "test/acme-demo.json"), "utf8"));
  return demo;
}

function writeJson(name: string, json: unknown): string {
  const file = path.join(work, name);
  writeFileSync(file, JSON.stringify(json));
  return file;
}

beforeAll(() => {
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: example, stdio: "pipe" });
  const tarball = path.join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
  execFileSync("npm", ["install", "--prefix", path.join(dataDir, "nodes"), tarball, "--offline", "--no-audit", "--no-fund"], { cwd: work, stdio: "pipe" });
  mkdirSync(emptyData);
}, 120_000);

describe("evoflow fmt", () => {
  it("fills requires with a caret range of the installed package giving the types used, and leaves Evoflow's own out", () => {
    const file = writeJson("fill.json", demoWithout());
    const run = evoflow(["fmt", "--data", dataDir, file], work);
    expect(run.status, run.stderr).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(JSON.parse(text).requires).toEqual({ "evoflow-nodes-acme": "^1.0.0" });
    // Where the key goes in the canonical order: after the description, before the nodes.
    expect(Object.keys(JSON.parse(text))).toEqual(["apiVersion", "name", "description", "requires", "nodes", "edges"]);
    expect(evoflow(["fmt", "--check", "--data", dataDir, file], work).status).toBe(0);
    // The same from a --nodes folder (a package under development).
    const dev = writeJson("dev.json", demoWithout());
    expect(evoflow(["fmt", "--nodes", example, dev], work).status).toBe(0);
    expect(readFileSync(dev, "utf8")).toBe(text);
  });

  it("keeps a range already written, drops a package no node uses, keeps one not installed here", () => {
    const demo = demoWithout();
    const requires = { "evoflow-nodes-acme": ">=1.0.0 <3", "evoflow-nodes-other": "^2.1.0" };
    const file = writeJson("keep.json", { ...demo, requires });
    expect(evoflow(["fmt", "--data", dataDir, file], work).status).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8")).requires).toEqual(requires);
    const onlyHttp = writeJson("unused.json", {
      ...demo,
      nodes: (demo.nodes as { type: string }[]).filter((n) => n.type === "io.http"),
      edges: [],
      requires: { "evoflow-nodes-acme": "^1.0.0", "evoflow-nodes-other": "^2.1.0" },
    });
    const check = evoflow(["fmt", "--check", "--data", dataDir, onlyHttp], work);
    expect(check.status).toBe(1);
    expect(check.stdout).toContain("not canonical");
    expect(evoflow(["fmt", "--data", dataDir, onlyHttp], work).status).toBe(0);
    expect(JSON.parse(readFileSync(onlyHttp, "utf8")).requires).toEqual({ "evoflow-nodes-other": "^2.1.0" });
  });
});

describe("evoflow validate", () => {
  it("reports a missing package at requires and at each node using it, with the install command", () => {
    const file = writeJson("missing.json", { ...demoWithout(), requires: { "evoflow-nodes-acme": "^1.0.0" } });
    expect(evoflow(["validate", "--data", dataDir, file], work)).toMatchObject({ status: 0 });
    const run = evoflow(["validate", "--data", emptyData, file], work);
    expect(run.status).toBe(1);
    const install = "evoflow nodes install evoflow-nodes-acme@^1.0.0";
    expect(run.stdout.trim().split("\n")).toEqual([
      `${file}: $.requires["evoflow-nodes-acme"]: package "evoflow-nodes-acme" (^1.0.0) is not installed here: ${install}`,
      `${file}: $.nodes[0].type: node type "acme.count" comes from package "evoflow-nodes-acme" (^1.0.0), which is not installed here: ${install}`,
      `${file}: $.nodes[1].type: node type "acme.scale" comes from package "evoflow-nodes-acme" (^1.0.0), which is not installed here: ${install}`,
    ]);
  });

  it("reports an installed version out of the range, and an unlisted namespace nobody gives", () => {
    const file = writeJson("mismatch.json", { ...demoWithout(), requires: { "evoflow-nodes-acme": "^2.0.0" } });
    const run = evoflow(["validate", "--data", dataDir, file], work);
    expect(run.status).toBe(1);
    expect(run.stdout.trim()).toBe(
      `${file}: $.requires["evoflow-nodes-acme"]: package "evoflow-nodes-acme" is installed here at 1.0.0, and the pipeline requires ^2.0.0: evoflow nodes install evoflow-nodes-acme@^2.0.0`,
    );
    const bare = evoflow(["validate", "--data", emptyData, writeJson("bare.json", demoWithout())], work);
    expect(bare.stdout).toContain('$.nodes[1].type: unknown node type "acme.scale"; no node package installed here gives the namespace "acme"');
  });

  it("checks the form of requires: npm names, npm ranges", () => {
    const result = validatePipeline({ ...demoWithout(), nodes: [], edges: [], requires: { "Not A Name": "^1", "evoflow-nodes-x": "one" } }, nodeTypes);
    expect(result.problems).toEqual([
      { path: '$.requires["Not A Name"]', message: "must be an npm package name (lower case, an optional @scope/)" },
      { path: '$.requires["evoflow-nodes-x"]', message: 'must be an npm version range, e.g. "^1.2.0"' },
    ]);
    expect(installCommand("@acme/nodes", ">=1 <3")).toBe("evoflow nodes install '@acme/nodes@>=1 <3'");
  });
});

describe("the validate and deploy APIs", () => {
  let server: Server;

  beforeAll(async () => {
    // The runtime has version 0.9.0 of the package, without acme.count: an old install.
    const old = writePackage(path.join(work, "old/evoflow-nodes-acme"), { name: "evoflow-nodes-acme", version: "0.9.0", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["acme.scale"]);
    server = await startRun([path.join(ROOT, "pipelines/hello-http.json"), "--nodes", old], path.join(work, "api-data"), work);
  }, 60_000);
  afterAll(() => server?.stop());

  it("refuse a mismatched and a missing package with 400 JSON, paths and install commands", async () => {
    const pipeline = { ...demoWithout(), requires: { "evoflow-nodes-acme": "^1.0.0" } };
    const expected = [
      { path: '$.requires["evoflow-nodes-acme"]', message: 'package "evoflow-nodes-acme" is installed here at 0.9.0, and the pipeline requires ^1.0.0: evoflow nodes install evoflow-nodes-acme@^1.0.0' },
      // acme.count is not in 0.9.0: the requirement explains why.
      { path: "$.nodes[0].type", message: 'unknown node type "acme.count": package "evoflow-nodes-acme" is installed here at 0.9.0, and the pipeline requires ^1.0.0: evoflow nodes install evoflow-nodes-acme@^1.0.0' },
    ];
    expect(await post(server, "/api/validate", pipeline)).toEqual({ status: 200, body: { ok: false, problems: expected } });
    expect(await post(server, "/api/pipelines", pipeline)).toEqual({ status: 400, body: { error: "pipeline is not valid", problems: expected } });

    const missing = await post(server, "/api/pipelines", { ...pipeline, requires: { ...pipeline.requires, "@acme/vision": "~3.1.0" } });
    expect(missing.status).toBe(400);
    expect((missing.body as { problems: unknown[] }).problems).toContainEqual({ path: '$.requires["@acme/vision"]', message: 'package "@acme/vision" (~3.1.0) is not installed here: evoflow nodes install @acme/vision@~3.1.0' });
  });
});
