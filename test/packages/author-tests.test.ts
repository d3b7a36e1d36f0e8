/**
 * The example package's own tests run as its author runs them: a copy of examples/node-package
 * in a folder of its own, evoflow installed beside it from the tarball `npm pack` makes of this
 * repository and built there as scripts/setup.sh builds it (`build:runtime`), then `npm test`
 * (the package's script: `node --test`).
 * The README's "Testing a node" example runs there too, as a file of its own. No registry: the
 * tarball is unpacked into node_modules/evoflow, and the dependencies npm would fetch for it are
 * this repository's installed ones, linked as its node_modules.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./cli";

const work = mkdtempSync(path.join(tmpdir(), "evoflow-author-"));
const project = path.join(work, "evoflow-nodes-acme");

/** The README's example test: the js block of its "Testing a node" section. */
function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Testing a node"));
  const code = section && /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('README.md has no js example under "## Testing a node"');
  return code;
}

beforeAll(() => {
  cpSync(path.join(ROOT, "examples/node-package"), project, { recursive: true, filter: (f) => !f.includes("node_modules") });
  execFileSync("npm", ["pack", "--pack-destination", work], { cwd: ROOT, stdio: "pipe" });
  const tarball = path.join(work, readdirSync(work).find((f) => /^evoflow-\d.*\.tgz$/.test(f))!);
  mkdirSync(path.join(project, "node_modules"));
  execFileSync("tar", ["-xzf", tarball, "-C", path.join(project, "node_modules")]);
  const installed = path.join(project, "node_modules/evoflow");
  renameSync(path.join(project, "node_modules/package"), installed);
  symlinkSync(path.join(ROOT, "node_modules"), path.join(installed, "node_modules"), "dir");
  execFileSync(process.execPath, ["scripts/build-runtime.mjs"], { cwd: installed, stdio: "pipe" });
  writeFileSync(path.join(project, "test/readme.test.mjs"), readmeExample());
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a node package's own tests with evoflow/testing", () => {
  it("pass under npm test (node --test), with the package's tests and the README's example both run", () => {
    // TAP, whatever the terminal, to read the results from.
    const run = spawnSync("npm", ["test"], { cwd: project, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "--test-reporter=tap" } });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const passed = [...run.stdout.matchAll(/^\s*ok \d+ - (.*)$/gm)].map((m) => m[1]);
    expect(run.stdout).toMatch(/^# fail 0$/m);
    // Both files ran: a test of examples/node-package/test/nodes.test.mjs and the README's.
    expect(passed).toContain("refuses a config the schema refuses, at its JSON path");
    expect(passed).toContain("acme.scale multiplies the field its config names, and dead-letters what it cannot");
    expect(Number(/^# pass (\d+)$/m.exec(run.stdout)?.[1])).toBe(6);
  });
});
