/**
 * Late labels across a runtime restart, as a user runs it: `evoflow run` serves requests whose
 * tensors the collector keeps waiting for labels; the process is killed (SIGKILL) and started
 * again on the same data folder; labels sent then still join the requests served before, and the joined
 * samples (tensor and provenance intact) reach the edge towards training.
 */
import type { ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PendingJournal } from "../../nodes/sampler/pending-journal";
import { tempDir } from "../agent/helpers";
import { until } from "../nats/cli";
import { startEvoflow } from "../runtime/evoflow-process";

const pipeline = {
  apiVersion: "evoflow/v1",
  name: "late",
  nodes: [
    { id: "serve", type: "io.http" },
    { id: "features", type: "transform.tensor", config: { fields: ["a", "b", "c"] } },
    { id: "labels", type: "io.http", config: { name: "labels" } },
    { id: "collector", type: "sampler.collector", config: { windowMs: 3_600_000 } },
    { id: "training", type: "io.sink", config: { kind: "jsonl", path: "training.jsonl" } },
  ],
  edges: [
    { from: "serve.out", to: "features.in", mode: "sync" },
    { from: "features.out", to: "collector.in", mode: "async" },
    { from: "labels.out", to: "collector.label", mode: "async" },
    { from: "collector.out", to: "training.in", mode: "async" },
  ],
};

interface Line {
  parents: string[];
  payload: { x: { dtype: string; shape: number[]; data: number[] }; y: number; requestId: string; messageId: string };
}

describe("collector across a runtime restart", () => {
  let server: ChildProcess | undefined;
  afterEach(() => {
    server?.kill("SIGKILL");
  });

  it("joins a label that arrives after the restart with the request served before it", async () => {
    const data = tempDir("collector-restart");
    const file = join(data, "late.json");
    writeFileSync(file, JSON.stringify(pipeline));
    const start = async () => {
      const started = await startEvoflow(["run", file, "--port", "0", "--data", data]);
      server = started.server;
      const token = readFileSync(join(data, "token"), "utf8").trim();
      const call = (path: string, body?: unknown) =>
        fetch(`${started.url}${path}`, {
          method: body === undefined ? "GET" : "POST",
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const collector = async () => ((await (await call("/api/pipelines/late/status")).json()) as { nodes: { collector: Record<string, number> } }).nodes.collector;
      return { call, collector };
    };
    const stop = async (signal: NodeJS.Signals) => {
      const exited = new Promise((resolve) => server!.once("exit", resolve));
      server!.kill(signal);
      await exited;
    };

    let api = await start();
    const traces: string[] = [];
    for (const [a, b, c] of [[1, 2, 3], [0.5, -1, 2.25], [7, 8, 9]]) {
      const res = await api.call("/pipelines/late", { a, b, c });
      expect(res.status).toBe(200);
      traces.push(res.headers.get("x-trace-id")!);
    }
    // One label before the restart joins at once; the other two requests wait.
    expect((await api.call("/pipelines/labels", { requestId: traces[2], label: 1 })).status).toBe(204);
    const sink = join(data, "late", "training.jsonl");
    const joinedLines = () => (existsSync(sink) ? readFileSync(sink, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line) : []);
    await until("the first joined sample written", () => (joinedLines().length === 1 ? true : undefined), 10_000);
    expect((await api.collector()).waiting).toBe(2);
    // A crash, not a clean stop: what the collector journaled was handed to the OS as it came.
    await stop("SIGKILL");

    api = await start();
    expect(await api.collector()).toMatchObject({ waiting: 2, restored: 2 });
    for (const [i, label] of [[0, 4], [1, 0]]) expect((await api.call("/pipelines/labels", { requestId: traces[i], label })).status).toBe(204);
    const lines = await until("three joined samples", () => {
      const got = joinedLines();
      return got.length === 3 ? got : undefined;
    }, 10_000);
    expect(lines.map((l) => [l.payload.requestId, l.payload.y])).toEqual([[traces[2], 1], [traces[0], 4], [traces[1], 0]]);
    // The tensor came back from disk as it was served (float32 [1,3]), and the sample's parents are the served message and the label.
    expect(lines[2].payload.x).toEqual({ dtype: "float32", shape: [1, 3], data: [0.5, -1, 2.25] });
    expect(lines[2].parents[0]).toBe(lines[2].payload.messageId);
    expect(lines[2].parents).toHaveLength(2);
    expect(await api.collector()).toMatchObject({ waiting: 0, joined: 2 });

    // Joined requests are gone from the journal: after another restart nothing waits.
    await stop("SIGTERM");
    api = await start();
    expect(await api.collector()).toMatchObject({ waiting: 0, restored: 0 });
  }, 60_000);
});

describe("the collector's pending journal", () => {
  it("stays bounded by what waits, keeps typed arrays binary, and drops a torn last record", async () => {
    const dir = tempDir("pending-journal");
    const { journal } = await PendingJournal.open<{ x: Float32Array }>(dir);
    for (let i = 0; i < 5000; i++) {
      journal.add({ op: "request", id: `r${i}`, at: i, request: { x: Float32Array.of(i, i / 2) } });
      if (i >= 10) journal.done(`r${i - 10}`);
      if (i % 500 === 0) await new Promise((r) => setImmediate(r)); // let batches go out, as message handling does
    }
    journal.add({ op: "label", id: "early", at: 5000, label: "cat" });
    await journal.close();
    const file = join(dir, "pending.journal");
    // 5,000 requests of which 11 entries wait: compaction kept the file near their size, not the history's.
    expect(statSync(file).size).toBeLessThan(2000 * 60);
    appendFileSync(file, Buffer.from([0, 0, 1, 0, 42])); // a crash mid-append: a frame's head with no body
    const reopened = await PendingJournal.open<{ x: Float32Array }>(dir);
    expect(reopened.entries.map((e) => e.id)).toEqual([...Array.from({ length: 10 }, (_, k) => `r${4990 + k}`), "early"]);
    const last = reopened.entries[9] as { request: { x: Float32Array } };
    expect(last.request.x).toBeInstanceOf(Float32Array);
    expect(Array.from(last.request.x)).toEqual([4999, 2499.5]);
    await reopened.journal.close();
  });
});
