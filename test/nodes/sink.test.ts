/**
 * io.sink on its own with evoflow/testing: the JSON lines it writes into the pipeline's data
 * folder (real files), the fs-write capability it needs, its config refused at its JSON path,
 * and a symlink planted after it started dead-letters the message while the next one, once the
 * folder is real, is written.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadNode, type TestNode } from "../../testing";
import { builtin } from "./builtin";

const sink = builtin("io.sink");
let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const lines = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { payload: unknown; source: unknown; traceId: string });

describe("io.sink", () => {
  it("appends each message, envelope included, as a JSON line, flushed when it stops", async () => {
    node = await loadNode(sink, { config: { kind: "jsonl", path: "out/log.jsonl" }, grants: ["fs-write"] });
    await node.send("in", { n: 1 }, { traceId: "4bf92f3577b34da6a3ce929d0e0e4736" });
    await node.send("in", [2, 3]);
    const file = join(node.dataDir, "out/log.jsonl");
    await node.stop({ keepData: true });
    const written = lines(file);
    expect(written.map((l) => l.payload)).toEqual([{ n: 1 }, [2, 3]]);
    expect(written[0]).toMatchObject({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", source: { node: "testing-feed", port: "in" } });
  });

  it("discards by default, counting what it dropped", async () => {
    node = await loadNode(sink, { grants: ["fs-write"] });
    for (let i = 0; i < 3; i++) await node.send("in", i);
    expect(node.status()).toMatchObject({ in: 3, written: 3 });
    expect(readdirSync(node.dataDir)).toEqual([]);
  });

  it("needs fs-write, and a path when it writes jsonl", async () => {
    await expect(loadNode(sink)).rejects.toThrow('io.sink could not load:\n  $.type: needs the "fs-write" capability');
    await expect(loadNode(sink, { config: { kind: "jsonl" }, grants: ["fs-write"] })).rejects.toThrow("$.config.path: path is required when kind is jsonl");
  });

  it("dead-letters a message whose path a symlink planted since it started leads out, and writes the next once the folder is real", async () => {
    const outside = mkdtempSync(join(tmpdir(), "evoflow-outside-"));
    node = await loadNode(sink, { config: { kind: "jsonl", path: "logs/x.jsonl" }, grants: ["fs-write"] });
    symlinkSync(outside, join(node.dataDir, "logs"));
    await node.send("in", { n: 1 });
    expect(node.deadLetters()).toEqual([expect.objectContaining({ port: "in", payload: { n: 1 }, reason: expect.stringMatching(/logs\/x\.jsonl.*leaves the pipeline's data folder through a symbolic link/) })]);
    expect(existsSync(join(outside, "x.jsonl"))).toBe(false);

    rmSync(join(node.dataDir, "logs"));
    mkdirSync(join(node.dataDir, "logs"));
    await node.send("in", { n: 2 });
    await node.stop({ keepData: true });
    expect(lines(join(node.dataDir, "logs/x.jsonl")).map((l) => l.payload)).toEqual([{ n: 2 }]);
    expect(readdirSync(outside)).toEqual([]);
  });
});
