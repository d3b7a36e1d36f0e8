/**
 * `evoflow nodes install` and `uninstall` as a user runs them, with no registry: the example
 * package from its `npm pack` tarball, a package from a folder, and broken packages refused and
 * removed again (a new one, and an upgrade that puts the previous version back).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evoflow, packagesSeen, ROOT, writePackage } from "./cli";

const work = mkdtempSync(path.join(tmpdir(), "evoflow-manage-"));
let tarball: string;

const installed = (data: string) => JSON.parse(readFileSync(path.join(data, "nodes/package.json"), "utf8")).dependencies ?? {};
const inNodeModules = (data: string) => readdirSync(path.join(data, "nodes/node_modules")).filter((n) => !n.startsWith("."));
const dataPackages = (data: string) => packagesSeen(["--data", data], work).filter((p) => p.source === "data");

beforeAll(() => {
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: path.join(ROOT, "examples/node-package"), stdio: "pipe" });
  tarball = path.join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
}, 60_000);

describe("evoflow nodes install / uninstall", () => {
  it("installs the example package from its tarball, lists it, and uninstalls it", () => {
    const data = path.join(work, "from-tarball");
    const run = evoflow(["nodes", "install", tarball, "--data", data], work);
    expect(run.stderr).toContain("added 1 package"); // npm's own report, shown as it came
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("installed evoflow-nodes-acme@1.0.0");
    expect(run.stdout).toContain("node types: acme.count, acme.scale");
    expect(dataPackages(data)).toMatchObject([{ name: "evoflow-nodes-acme", version: "1.0.0", types: ["acme.count", "acme.scale"] }]);

    const list = evoflow(["nodes", "list", "--packages", "--data", data], work);
    expect(list.stdout).toMatch(/evoflow-nodes-acme@1\.0\.0 {2}\(data\)[^\n]*\n[^\n]*\n {2}types: acme\.count, acme\.scale/);

    const removed = evoflow(["nodes", "uninstall", "evoflow-nodes-acme", "--data", data], work);
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("its node types acme.count, acme.scale are gone");
    expect(installed(data)).toEqual({});
    expect(dataPackages(data)).toEqual([]);
  }, 60_000);

  it("installs into the default data folder (.evoflow, relative to where it runs) from a relative tarball path, as the README shows", () => {
    const project = mkdtempSync(path.join(work, "project-"));
    copyFileSync(tarball, path.join(project, path.basename(tarball)));
    const run = evoflow(["nodes", "install", `./${path.basename(tarball)}`], project);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("node types: acme.count, acme.scale");
    expect(packagesSeen([], project).filter((p) => p.source === "data").map((p) => p.name)).toEqual(["evoflow-nodes-acme"]);
  }, 60_000);

  it("installs a folder as a copy, not a link to the working copy", () => {
    const data = path.join(work, "from-folder");
    const dir = writePackage(path.join(work, "src/evoflow-nodes-folder"), { name: "evoflow-nodes-folder", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["folder.pass"]);
    const run = evoflow(["nodes", "install", dir, "--data", data], work);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("node types: folder.pass");
    expect(lstatSync(path.join(data, "nodes/node_modules/evoflow-nodes-folder")).isSymbolicLink()).toBe(false);
    expect(dataPackages(data).map((p) => p.name)).toEqual(["evoflow-nodes-folder"]);
  }, 60_000);

  it("refuses a package that does not load, removes it again and says why", () => {
    const data = path.join(work, "broken");
    const dir = writePackage(path.join(work, "src/evoflow-nodes-broken"), { name: "evoflow-nodes-broken", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["broken.pass"]);
    writeFileSync(path.join(dir, "index.js"), 'throw new Error("no GPU here");\n');
    const run = evoflow(["nodes", "install", dir, "--data", data], work);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("evoflow-nodes-broken was installed but does not load, so it was removed again");
    expect(run.stderr).toContain('module "./index.js" does not load: no GPU here');
    expect(installed(data)).toEqual({});
    expect(inNodeModules(data)).toEqual([]);
  }, 60_000);

  it("refuses a package built for another SDK major and one that is no node package at all", () => {
    const data = path.join(work, "refused");
    const sdk2 = writePackage(path.join(work, "src/evoflow-nodes-future"), { name: "evoflow-nodes-future", evoflow: { sdk: "^2", nodes: ["./index.js"] } }, ["future.pass"]);
    const future = evoflow(["nodes", "install", sdk2, "--data", data], work);
    expect(future.status).toBe(1);
    expect(future.stderr).toContain("it is built for evoflow SDK ^2");
    const plain = writePackage(path.join(work, "src/left-pad-ish"), { name: "left-pad-ish" }, []);
    const notNodes = evoflow(["nodes", "install", plain, "--data", data], work);
    expect(notNodes.status).toBe(1);
    expect(notNodes.stderr).toContain('left-pad-ish is neither an Evoflow node package nor a Node-RED one: its package.json has no "evoflow" key');
    expect(installed(data)).toEqual({});
  }, 60_000);

  it("keeps a package that loads when only another, already broken one fails, and names that one", () => {
    const data = path.join(work, "other-broken");
    // A package under development, given with --nodes, that does not load.
    const old = writePackage(path.join(work, "src/evoflow-nodes-old"), { name: "evoflow-nodes-old", evoflow: { sdk: "^2", nodes: ["./index.js"] } }, ["old.pass"]);
    const run = evoflow(["nodes", "install", tarball, "--data", data, "--nodes", old], work);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("evoflow-nodes-acme is installed, but other node packages do not load");
    expect(run.stderr).toContain('package "evoflow-nodes-old"');
    expect(installed(data)).toEqual({ "evoflow-nodes-acme": expect.stringContaining("evoflow-nodes-acme-1.0.0.tgz") });
  }, 60_000);

  it("puts the previous version back when an upgrade does not load", () => {
    const data = path.join(work, "upgrade");
    const v1 = writePackage(path.join(work, "src/up-v1"), { name: "evoflow-nodes-up", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["up.pass"]);
    const v2 = writePackage(path.join(work, "src/up-v2"), { name: "evoflow-nodes-up", version: "2.0.0", evoflow: { sdk: "^1", nodes: ["./index.js"] } }, ["Up.Pass"]);
    expect(evoflow(["nodes", "install", v1, "--data", data], work).status).toBe(0);
    const run = evoflow(["nodes", "install", v2, "--data", data], work);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("(1.0.0 is back)");
    expect(run.stderr).toContain('node type "Up.Pass" is not in the package\'s namespace "up"');
    expect(dataPackages(data)).toMatchObject([{ name: "evoflow-nodes-up", version: "1.0.0", types: ["up.pass"] }]);
  }, 60_000);

  it("shows npm's error when the registry cannot be reached, and installs nothing", () => {
    const data = path.join(work, "no-registry");
    const run = spawnSync(process.execPath, [path.join(ROOT, "bin/evoflow.js"), "nodes", "install", "evoflow-nodes-nothere@^1", "--data", data], {
      cwd: work,
      encoding: "utf8",
      env: { ...process.env, npm_config_registry: "http://127.0.0.1:9/", npm_config_fetch_retries: "0" },
    });
    expect(run.status).toBe(1);
    const summary = run.stderr.slice(run.stderr.indexOf("npm install --save evoflow-nodes-nothere@^1 failed (exit 1):"));
    expect(summary.split("\n").slice(1, 3)).toEqual(["  code ECONNREFUSED", expect.stringMatching(/^ {2}FetchError: request to http:\/\/127\.0\.0\.1:9\/evoflow-nodes-nothere failed/)]);
    expect(summary).not.toContain("    at ");
    expect(installed(data)).toEqual({});
  }, 60_000);

  it("says what is wrong with an argument it cannot install or a name that is not installed", () => {
    const data = path.join(work, "args");
    expect(evoflow(["nodes", "install", "./missing.tgz", "--data", data], work)).toMatchObject({ status: 1, stderr: "./missing.tgz: no such file or folder\n" });
    expect(evoflow(["nodes", "install", "Not A Name", "--data", data], work).stderr).toContain('"Not A Name" is not an npm package name');
    expect(evoflow(["nodes", "uninstall", "evoflow-nodes-none", "--data", data], work).stderr).toContain("evoflow-nodes-none is not installed in");
  }, 60_000);
});
