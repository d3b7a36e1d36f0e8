import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { FsModelRegistry } from "../../runtime/registry/fs";
import type { RegistryEvent } from "../../sdk/registry";
import { makeMlp } from "../fixtures/mlp";
import { registryConformance } from "./conformance";

const run = promisify(execFile);
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "evoflow-registry-"));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

registryConformance("fs", async () => {
  const dir = await tempDir();
  return { registry: new FsModelRegistry(dir), openAnother: async () => new FsModelRegistry(dir) };
});

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe("fs registry backend", () => {
  it("keeps the documented layout and leaves no temporary or lock files", async () => {
    const dir = await tempDir();
    const registry = new FsModelRegistry(dir);
    await registry.register({ name: "m", artifact: makeMlp({ sizes: [2, 2] }).bytes });
    await registry.register({ name: "m", artifact: makeMlp({ sizes: [2, 3] }).bytes });
    await registry.promote("m", 2);
    await registry.delete("m", 1);
    await registry.close();
    expect(await allFiles(dir)).toEqual([
      "champions/m.json",
      "models/m/versions/1/deleted",
      "models/m/versions/2/model.onnx",
      "models/m/versions/2/version.json",
    ]);
    expect(JSON.parse(await readFile(path.join(dir, "champions/m.json"), "utf8")).version).toBe(2);
  });

  it("stores nothing at all for an invalid artifact", async () => {
    const dir = await tempDir();
    const registry = new FsModelRegistry(dir);
    await expect(registry.register({ name: "m", artifact: new TextEncoder().encode("{}") })).rejects.toThrow(/not a valid ONNX model/);
    await registry.close();
    expect(await allFiles(dir)).toEqual([]);
  });

  it("breaks a lock left by a process that died", async () => {
    const dir = await tempDir();
    const registry = new FsModelRegistry(dir);
    await registry.register({ name: "m", artifact: makeMlp({ sizes: [2, 2] }).bytes });
    // A pid far above any pid_max is a process that is certainly not running.
    await writeFile(path.join(dir, "models/m/.lock"), "2147483600");
    expect((await registry.register({ name: "m", artifact: makeMlp({ sizes: [2, 2], seed: 2 }).bytes })).version).toBe(2);
    await registry.close();
  });

  it("gives distinct versions to registrations from several processes at once", async () => {
    const dir = await tempDir();
    const worker = path.join(import.meta.dirname, "register-worker.ts");
    const outputs = await Promise.all(
      [1, 2, 3].map((seed) => run(process.execPath, ["--import", "tsx", worker, dir, "multi", "4", String(seed)], { cwd: path.resolve(import.meta.dirname, "../..") })),
    );
    const versions = outputs.flatMap((o) => JSON.parse(o.stdout) as number[]).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const registry = new FsModelRegistry(dir);
    const records = await registry.versions("multi");
    expect(records.map((r) => r.version)).toEqual(versions);
    for (const r of records) expect((await registry.readArtifact("multi", r.version)).byteLength).toBe(r.artifact.size);
    await registry.close();
  });

  it("sees champion changes by polling where file-system watches do not work", async () => {
    const dir = await tempDir();
    const writer = new FsModelRegistry(dir);
    const reader = new FsModelRegistry(dir, { fsWatch: false, pollMs: 20 });
    await writer.register({ name: "m", artifact: makeMlp({ sizes: [2, 2] }).bytes });
    await writer.register({ name: "m", artifact: makeMlp({ sizes: [2, 3] }).bytes });
    await writer.promote("m", 1);
    const events: RegistryEvent[] = [];
    const seen = new Promise<void>((resolve) =>
      reader.watch("m", (e) => {
        events.push(e);
        resolve();
      }),
    );
    await writer.promote("m", 2);
    await seen;
    expect(events).toEqual([{ type: "champion", name: "m", version: 2, previous: 1 }]);
    await writer.close();
    await reader.close();
  });

  it("still sees a change after polls have skipped a folder that stayed unchanged for a while", async () => {
    const dir = await tempDir();
    const writer = new FsModelRegistry(dir);
    const reader = new FsModelRegistry(dir, { fsWatch: false, pollMs: 20 });
    for (let i = 1; i <= 3; i++) await writer.register({ name: "m", artifact: makeMlp({ sizes: [2, 2], seed: i }).bytes });
    await writer.promote("m", 1);
    const champions: number[] = [];
    reader.watch("m", (e) => e.type === "champion" && champions.push(e.version));
    await writer.promote("m", 2);
    await expect.poll(() => champions, { timeout: 2000 }).toEqual([2]);
    // Long enough for the polls to skip the unchanged folder (it changed over 2 s ago), then two changes in a row.
    await new Promise((r) => setTimeout(r, 2600));
    await writer.promote("m", 3);
    await writer.promote("m", 1);
    // A poll between the two may see 3 first; the last word must be 1.
    await expect.poll(() => champions.at(-1), { timeout: 2000 }).toBe(1);
    expect(champions.slice(1).every((v) => v === 3 || v === 1)).toBe(true);
    await writer.close();
    await reader.close();
  });

  it("never reports an older champion after a newer one, under rapid promotions by another client", async () => {
    const dir = await tempDir();
    const writer = new FsModelRegistry(dir);
    const reader = new FsModelRegistry(dir, { pollMs: 5 });
    for (let i = 1; i <= 7; i++) await writer.register({ name: "m", artifact: makeMlp({ sizes: [2, 2], seed: i }).bytes });
    const order = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 7];
    const seenHere: number[] = [];
    const seenThere: number[] = [];
    writer.watch("m", (e) => e.type === "champion" && seenHere.push(e.version));
    const last = new Promise<void>((resolve) =>
      reader.watch("m", (e) => {
        if (e.type !== "champion") return;
        seenThere.push(e.version);
        if (e.version === 7) resolve();
      }),
    );
    for (const v of order) await writer.promote("m", v);
    await last;
    expect(seenHere).toEqual(order);
    // The other client may miss intermediate champions (notifications coalesce) but sees them in order, each once.
    let cursor = 0;
    for (const v of seenThere) {
      const at = order.indexOf(v, cursor);
      expect(at, `champion ${v} reported out of order in ${seenThere.join(",")}`).toBeGreaterThanOrEqual(cursor);
      cursor = at + 1;
    }
    await writer.close();
    await reader.close();
  });

  it("stays consistent when a registering process is killed mid-way", async () => {
    const dir = await tempDir();
    const worker = path.join(import.meta.dirname, "register-worker.ts");
    const child = spawn(process.execPath, ["--import", "tsx", worker, dir, "crash", "100000", "7"], { cwd: path.resolve(import.meta.dirname, "../.."), stdio: "ignore" });
    const registry = new FsModelRegistry(dir);
    // Kill it once it is well into its loop: a kill at a random point of some registration.
    while ((await registry.versions("crash")).length < 10) {
      if (child.exitCode !== null) throw new Error(`the registering process ended early (exit ${child.exitCode})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    await once(child, "exit");

    const versions = await registry.versions("crash");
    for (const v of versions) expect((await registry.readArtifact("crash", v.version)).byteLength).toBe(v.artifact.size);
    // The lock the dead process may hold is broken, and the next number is past every one it claimed.
    const next = await registry.register({ name: "crash", artifact: makeMlp({ sizes: [2, 2] }).bytes });
    expect(next.version).toBeGreaterThan(versions.at(-1)!.version);
    expect((await registry.versions("crash")).at(-1)?.version).toBe(next.version);
    await registry.close();
  });

  it("refuses to serve an artifact whose bytes changed on disk", async () => {
    const dir = await tempDir();
    const registry = new FsModelRegistry(dir);
    await registry.register({ name: "m", artifact: makeMlp({ sizes: [2, 2] }).bytes });
    await writeFile(registry.artifactPath("m", 1), makeMlp({ sizes: [2, 2], seed: 5 }).bytes);
    await expect(registry.readArtifact("m", 1)).rejects.toThrow(/corrupt/);
    await registry.close();
  });
});
