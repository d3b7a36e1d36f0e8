/**
 * Where node packages are found and what the loader refuses, seen through the real CLI run in a
 * project folder of its own: its node_modules (top level and @scope/), --nodes folders, the
 * namespace rule, clashes naming both packages, another SDK major, and Evoflow's own package
 * coming through the same loader.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { evoflow, packagesSeen, ROOT, writePackage } from "./cli";
import { sdkVersion } from "../../sdk";

const fresh = (name: string) => mkdtempSync(path.join(tmpdir(), `evoflow-${name}-`));
const sdk = "^1";

// The CLI runs the sources (the package is nodes/) or, when it is fresh, the bundle (its built copy in dist/nodes/).
const BUILTIN_DIRS = [path.join(ROOT, "nodes"), path.join(ROOT, "dist", "nodes")];

describe("node package discovery", () => {
  it("loads Evoflow's own nodes as the package @evoflow/nodes, through the loader", () => {
    const builtin = JSON.parse(readFileSync(path.join(ROOT, "nodes/package.json"), "utf8")) as { version: string };
    const seen = packagesSeen([], fresh("empty"));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ name: "@evoflow/nodes", version: builtin.version, source: "builtin" });
    expect(BUILTIN_DIRS).toContain(seen[0].dir);
    expect(seen[0].types).toEqual(expect.arrayContaining(["io.http", "transform.set", "model.onnx", "validator.gate"]));
    expect(evoflow(["nodes"], fresh("list")).stdout).toContain(`io.http  (io) HTTP request\n  package: @evoflow/nodes@${builtin.version}\n`);
  });

  it("finds packages with the evoflow key in the project's node_modules, @scope folders included", () => {
    const project = fresh("project");
    writePackage(path.join(project, "node_modules/evoflow-nodes-beta"), { name: "evoflow-nodes-beta", evoflow: { sdk, nodes: ["./index.js"] } }, ["beta.pass"]);
    writePackage(path.join(project, "node_modules/@gamma/evoflow-nodes"), { name: "@gamma/evoflow-nodes", evoflow: { sdk, nodes: ["./index.js"] } }, ["gamma.pass"]);
    mkdirSync(path.join(project, "node_modules/left-pad"));
    writeFileSync(path.join(project, "node_modules/left-pad/package.json"), JSON.stringify({ name: "left-pad", version: "1.3.0" }));

    const seen = packagesSeen([], project).filter((p) => p.source === "project");
    expect(seen.map((p) => [p.name, p.types])).toEqual([
      ["@gamma/evoflow-nodes", ["gamma.pass"]],
      ["evoflow-nodes-beta", ["beta.pass"]],
    ]);
    expect(evoflow(["nodes"], project).stdout).toContain("beta.pass  (transform) Pass\n  package: evoflow-nodes-beta@1.0.0\n");
  });

  it("takes --nodes as a package folder or a folder of packages, and validate uses them", () => {
    const dev = writePackage(path.join(fresh("dev"), "delta"), { name: "delta-nodes", evoflow: { sdk, namespace: "delta", nodes: ["./index.js"] } }, ["delta.pass"]);
    const shelf = fresh("shelf");
    writePackage(path.join(shelf, "one"), { name: "evoflow-nodes-one", evoflow: { sdk, nodes: ["./index.js"] } }, ["one.pass"]);
    writePackage(path.join(shelf, "two"), { name: "evoflow-nodes-two", evoflow: { sdk, nodes: ["./index.js"] } }, ["two.pass"]);
    const seen = packagesSeen(["--nodes", dev, "--nodes", shelf], fresh("cwd"));
    expect(seen.filter((p) => p.source === "dir").map((p) => p.name)).toEqual(["delta-nodes", "evoflow-nodes-one", "evoflow-nodes-two"]);

    const pipeline = path.join(fresh("pipeline"), "p.json");
    writeFileSync(pipeline, JSON.stringify({ apiVersion: "evoflow/v1", name: "p", nodes: [{ id: "in", type: "io.http" }, { id: "d", type: "delta.pass" }], edges: [{ from: "in.out", to: "d.in", mode: "sync" }] }));
    expect(evoflow(["validate", pipeline, "--nodes", dev])).toMatchObject({ status: 0, stdout: "" });
    const without = evoflow(["validate", pipeline]);
    expect(without.status).toBe(1);
    expect(without.stdout).toContain('$.nodes[1].type: unknown node type "delta.pass"');
  });

  it("a --nodes folder that does not exist stops the command", () => {
    const missing = path.join(fresh("gone"), "nope");
    const run = evoflow(["nodes", "--nodes", missing]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`--nodes ${missing}: no such folder`);
  });
});

describe("namespaces, clashes and the SDK version", () => {
  it("refuses a type outside its package's namespace, and a name that gives none", () => {
    const shelf = fresh("ns");
    const stray = writePackage(path.join(shelf, "stray"), { name: "evoflow-nodes-eps", evoflow: { sdk, nodes: ["./index.js"] } }, ["pass"]);
    const nameless = writePackage(path.join(shelf, "nameless"), { name: "handy-nodes", evoflow: { sdk, nodes: ["./index.js"] } }, ["handy.pass"]);
    const run = evoflow(["nodes", "--nodes", shelf]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`package "evoflow-nodes-eps" (${stray}): module "./index.js" [0]: node type "pass" is not in the package's namespace "eps": name it "eps.pass"`);
    expect(run.stderr).toContain(`package "handy-nodes" (${nameless}): its name gives no namespace`);
    expect(run.stderr).toContain('"evoflow": { "namespace": "handy" }');
  });

  it("two packages giving one namespace is an error naming both", () => {
    const project = fresh("clash");
    const first = writePackage(path.join(project, "node_modules/evoflow-nodes-acme"), { name: "evoflow-nodes-acme", evoflow: { sdk, nodes: ["./index.js"] } }, ["acme.scale"]);
    const second = writePackage(path.join(fresh("other"), "acme"), { name: "@acme/evoflow-nodes", evoflow: { sdk, nodes: ["./index.js"] } }, ["acme.scale", "acme.more"]);
    const run = evoflow(["nodes", "--nodes", second], project);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`packages "evoflow-nodes-acme" (${first}) and "@acme/evoflow-nodes" (${second}) both give the namespace "acme" (both declare acme.scale)`);
    // A package may not take a built-in namespace either.
    const io = writePackage(path.join(fresh("io"), "io"), { name: "my-io", evoflow: { sdk, namespace: "io", nodes: ["./index.js"] } }, ["io.extra"]);
    const stderr = evoflow(["nodes", "--nodes", io]).stderr;
    const clashes = BUILTIN_DIRS.map((dir) => `packages "@evoflow/nodes" (${dir}) and "my-io" (${io}) both give the namespace "io"`);
    expect(clashes.some((line) => stderr.includes(line)), stderr).toBe(true);
  });

  it("refuses a package built for another SDK major before running any of its code", () => {
    const dir = writePackage(path.join(fresh("sdk2"), "future"), { name: "evoflow-nodes-future", evoflow: { sdk: "^2", nodes: ["./index.js"] } }, ["future.pass"]);
    // Were the module imported, this would be the error instead.
    writeFileSync(path.join(dir, "index.js"), 'throw new Error("imported");\n');
    const run = evoflow(["nodes", "--nodes", dir]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`package "evoflow-nodes-future" (${dir}): it is built for evoflow SDK ^2, and this runtime's SDK is ${sdkVersion}`);
    expect(run.stderr).not.toContain("imported");

    const unstated = writePackage(path.join(fresh("nosdk"), "old"), { name: "evoflow-nodes-old", evoflow: { nodes: ["./index.js"] } }, ["old.pass"]);
    expect(evoflow(["nodes", "--nodes", unstated]).stderr).toContain('must say which evoflow SDK it is built for, e.g. "evoflow": { "sdk": "^1" }');
  });
});
