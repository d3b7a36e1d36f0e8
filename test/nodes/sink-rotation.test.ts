/**
 * io.sink's `rotate` against real files: by size and by age, gzip of closed files, the count and
 * byte budget of what is kept, and a real full disk (a 64 KiB tmpfs mounted inside the data
 * folder) turning into dead letters and a status while the node keeps going once there is room.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { loadNode, type TestNode } from "../../testing";
import { builtin } from "./builtin";

const sink = builtin("io.sink");
/** Mounting needs root (the setup script's machines have it); elsewhere the full-disk case is skipped, saying why. */
const canMount = (() => {
  const dir = mkdtempSync(join(tmpdir(), "evoflow-mount-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4k", "tmpfs", dir], { stdio: "ignore" });
    execFileSync("umount", [dir]);
    return true;
  } catch {
    console.warn("sink-rotation: cannot mount a tmpfs here (not root?): the full-disk case is skipped");
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
let node: TestNode | undefined;
let mounted: string | undefined;
afterEach(async () => {
  // The file closed first, so the mount is not busy; the data folder removed once it is gone.
  if (mounted) await node?.stop({ keepData: true }), execFileSync("umount", [mounted]), rmSync(node!.dataDir, { recursive: true, force: true });
  mounted = undefined;
  await node?.stop();
  node = undefined;
});

const payloads = (text: string) => text.trim().split("\n").map((l) => (JSON.parse(l) as { payload: { i: number } }).payload.i);
const filesIn = (dir: string) => readdirSync(dir).sort();
const row = (i: number) => ({ i, pad: "x".repeat(200) }); // ~400 bytes a line with its envelope

describe("io.sink rotation", () => {
  it("starts a new file past maxBytes, names closed files by time, and loses no line", async () => {
    node = await loadNode(sink, { config: { kind: "jsonl", path: "logs/req.jsonl", rotate: { maxBytes: 4096 } }, grants: ["fs-write"] });
    for (let i = 0; i < 40; i++) await node.send("in", row(i));
    await node.stop({ keepData: true });
    const dir = join(node.dataDir, "logs");
    const files = filesIn(dir);
    expect(files.length).toBeGreaterThan(2);
    const closed = files.filter((f) => f !== "req.jsonl");
    for (const f of closed) expect(f).toMatch(/^req\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.jsonl$/);
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(4096);
    // Oldest first, then the live file: every line once, in order.
    const all = [...closed, "req.jsonl"].flatMap((f) => payloads(readFileSync(join(dir, f), "utf8")));
    expect(all).toEqual([...Array(40).keys()]);
    expect(node.status()).toMatchObject({ written: 40, rotations: closed.length });
  });

  it("gzips closed files and keeps only the newest `keep`", async () => {
    node = await loadNode(sink, { config: { kind: "jsonl", path: "req.jsonl", rotate: { maxBytes: 2048, compress: true, keep: 2 } }, grants: ["fs-write"] });
    for (let i = 0; i < 60; i++) await node.send("in", row(i));
    await node.stop({ keepData: true });
    const files = filesIn(node.dataDir);
    const closed = files.filter((f) => f !== "req.jsonl");
    expect(closed).toHaveLength(2);
    for (const f of closed) expect(f).toMatch(/\.jsonl\.gz$/);
    // The two kept are the newest: with the live file they end at the last line.
    const kept = [...closed, "req.jsonl"].flatMap((f) => payloads(f.endsWith(".gz") ? gunzipSync(readFileSync(join(node!.dataDir, f))).toString() : readFileSync(join(node!.dataDir, f), "utf8")));
    expect(kept.at(-1)).toBe(59);
    expect(kept).toEqual([...Array(kept.length).keys()].map((k) => 60 - kept.length + k));
  });

  it("removes the oldest closed files past the disk budget", async () => {
    node = await loadNode(sink, { config: { kind: "jsonl", path: "req.jsonl", rotate: { maxBytes: 2048, maxTotalBytes: 5000 } }, grants: ["fs-write"] });
    for (let i = 0; i < 60; i++) await node.send("in", row(i));
    await node.stop({ keepData: true });
    const closed = filesIn(node.dataDir).filter((f) => f !== "req.jsonl");
    const total = closed.reduce((sum, f) => sum + statSync(join(node!.dataDir, f)).size, 0);
    expect(total).toBeLessThanOrEqual(5000);
    expect(closed.length).toBeGreaterThanOrEqual(2);
  });

  it("starts a new file once the open one is maxSeconds old", async () => {
    node = await loadNode(sink, { config: { kind: "jsonl", path: "req.jsonl", rotate: { maxSeconds: 1 } }, grants: ["fs-write"] });
    await node.send("in", row(0));
    await new Promise((r) => setTimeout(r, 1100));
    await node.send("in", row(1));
    await node.stop({ keepData: true });
    const files = filesIn(node.dataDir);
    expect(files).toHaveLength(2);
    expect(payloads(readFileSync(join(node.dataDir, files[0]), "utf8"))).toEqual([0]);
    expect(payloads(readFileSync(join(node.dataDir, "req.jsonl"), "utf8"))).toEqual([1]);
  });

  it("refuses a rotation without a size or an age, at its JSON path", async () => {
    await expect(loadNode(sink, { config: { kind: "jsonl", path: "r.jsonl", rotate: { keep: 3 } }, grants: ["fs-write"] })).rejects.toThrow("$.config.rotate: rotate needs maxBytes or maxSeconds");
    await expect(loadNode(sink, { config: { kind: "jsonl", path: "r.jsonl", rotate: { maxBytes: 1e15 } }, grants: ["fs-write"] })).rejects.toThrow("$.config.rotate.maxBytes");
  });

  it.runIf(canMount)("turns a full disk into dead letters with the reason and a status, then writes again when there is room", async () => {
    node = await loadNode(sink, { config: { kind: "jsonl", path: "small/req.jsonl" }, grants: ["fs-write"] });
    const small = join(node.dataDir, "small");
    mkdirSync(small);
    // A real filesystem that fills up.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small]);
    mounted = small;
    execFileSync("dd", ["if=/dev/zero", `of=${join(small, "filler")}`, "bs=4096", "count=14"], { stdio: "ignore" });
    for (let i = 0; i < 80; i++) await node.send("in", row(i));
    const dead = node.deadLetters();
    expect(dead.length).toBeGreaterThan(0);
    expect(dead[0]).toMatchObject({ port: "in", reason: expect.stringMatching(/ENOSPC|no space left/i) });
    expect(node.status()).toMatchObject({ error: expect.stringMatching(/ENOSPC|no space left/i) });
    const written = node.status().written as number;
    expect(written + dead.length).toBe(80);

    execFileSync("rm", [join(small, "filler")]);
    await node.send("in", row(80));
    expect(node.status()).not.toHaveProperty("error");
    expect(node.deadLetters()).toHaveLength(dead.length);
    // Every line whole (a batch cut short was cut off again), each message in the file or a dead letter.
    const inFile = payloads(readFileSync(join(small, "req.jsonl"), "utf8"));
    const deadIds = dead.map((d) => (d.payload as { i: number }).i);
    expect([...inFile, ...deadIds].sort((a, b) => a - b)).toEqual([...Array(81).keys()]);
  });
});
