/**
 * A command writing into a pipe its reader has closed (`evoflow nodes | head -1`) ends quietly
 * with status 0, from the sources (through tsx) and from the bundle bin/evoflow.js runs when fresh.
 */
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const outdir = `.bundle-test-epipe-${process.pid}`;

beforeAll(() => {
  const built = spawnSync(process.execPath, ["scripts/build-runtime.mjs", outdir], { cwd: root, encoding: "utf8" });
  expect(built.status, built.stderr).toBe(0);
});
afterAll(() => rmSync(path.join(root, outdir), { recursive: true, force: true }));

/** Runs the CLI with its stdout closed before it writes a byte. */
function runIntoClosedPipe(entry: string, args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const child = spawn(process.execPath, [entry, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  child.stdout.destroy();
  return new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal, stderr })));
}

const entries = { sources: "bin/evoflow.js", bundle: `${outdir}/main.js` };

describe.each(Object.entries(entries))("a closed stdout (%s)", (_name, entry) => {
  it.each(["nodes", "nodes --json", "schema"])("evoflow %s with its reader gone: no stack, status 0", async (command) => {
    expect(await runIntoClosedPipe(entry, command.split(" "))).toEqual({ stderr: "", code: 0, signal: null });
  }, 60_000);

  // The case as a user meets it: whether the reader is gone before the last write depends on timing,
  // so this one alone may pass without the fix; the ones above do not.
  it("evoflow nodes | head -1 under pipefail: the first line, nothing on stderr, status 0", () => {
    const r = spawnSync("bash", ["-o", "pipefail", "-c", `node ${entry} nodes | head -1`], { cwd: root, encoding: "utf8" });
    expect(r.stdout).toMatch(/^\S+ +\(\w+\) .+\n$/);
    expect({ stderr: r.stderr, status: r.status }).toEqual({ stderr: "", status: 0 });
  }, 60_000);
});
