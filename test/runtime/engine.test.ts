/**
 * The engine on the in-process transport: sync and async edges, overflow, load shedding, fan-out
 * and fan-in, joins on the sync path, dead letters, taps and provenance. What single node types
 * do on their own is tested with evoflow/testing in test/nodes/.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Runtime } from "../../runtime/runtime";
import { gate, probe, testNodeTypes } from "./helpers";

const runtimes: Runtime[] = [];
function runtime(): Runtime {
  const r = new Runtime({ nodeTypes: testNodeTypes, dataDir: "/tmp/evoflow-engine-test" });
  runtimes.push(r);
  return r;
}
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.close();
});

const pipeline = (name: string, nodes: unknown[], edges: unknown[]) => ({ apiVersion: "evoflow/v1", name, nodes, edges });
const recorder = (id: string, key: string) => ({ id, type: "test.recorder", config: { key } });
const tick = () => new Promise((r) => setImmediate(r));

describe("engine, in-process transport", () => {
  it("starts every node before the nodes that feed it, so a source may emit from within its start()", async () => {
    const seen = probe("after-slow-start");
    const running = await runtime().deploy(
      // Declared source first: started in declaration order, its messages reached the sink before the sink had started.
      pipeline("eager", [{ id: "src", type: "test.eagerSource", config: { count: 5 } }, { id: "mid", type: "transform.set", config: { set: { via: "mid" } } }, { id: "sink", type: "test.slowStart", config: { key: "after-slow-start" } }], [
        { from: "src.out", to: "mid.in", mode: "sync" },
        { from: "mid.out", to: "sink.in", mode: "sync" },
      ]),
    );
    expect(seen.received.map((m) => m.payload)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i, via: "mid" })));
    expect(running.status().nodes.sink.errors).toBe(0);
  });

  it("answers a sync request without waiting for a slow async branch", async () => {
    const slow = gate();
    const slowProbe = probe("slow", { gate: slow });
    const rt = runtime();
    const running = await rt.deploy(
      pipeline("p", [{ id: "h", type: "io.http" }, { id: "t", type: "transform.jsonata", config: { expression: "{ 'double': n * 2 }" } }, recorder("slow", "slow")], [
        { from: "h.out", to: "t.in" },
        { from: "h.out", to: "slow.in", mode: "async" },
      ]),
    );
    const [reply] = await running.entrypoints.get("p")!.invoke({ n: 21 });
    // The async branch is still held at its gate while the sync reply is already here.
    expect(reply.payload).toEqual({ double: 42 });
    expect(slowProbe.received).toHaveLength(0);
    expect(rt.transport.edgeStats(running.compiled.edges.find((e) => e.mode === "async")!).depth + (running.status().nodes.slow.in as number)).toBe(1);
    slow.open();
    await running.idle();
    expect(slowProbe.received.map((m) => m.payload)).toEqual([{ n: 21 }]);
  });

  it("block overflow makes the producer wait for room; nothing is lost", async () => {
    const hold = gate();
    const sink = probe("sink", { gate: hold });
    const running = await runtime().deploy(
      pipeline("p", [{ id: "g", type: "io.generator", config: { source: { kind: "synthetic", count: 5 } } }, recorder("sink", "sink")], [
        { from: "g.out", to: "sink.in", mode: "async", queue: { capacity: 2, overflow: "block" } },
      ]),
    );
    for (let i = 0; i < 5; i++) await tick();
    // One message is held by the consumer, two fill the queue: the source waits with the fourth.
    expect(running.status().nodes.g).toMatchObject({ emitted: 3, done: false });
    // The status says how full the queue is against what it holds (the editor shows it on the edge).
    expect(running.status().edges["g_out-sink_in"]).toMatchObject({ depth: 2, capacity: 2, dropped: 0 });
    hold.open();
    await expect.poll(() => running.status().nodes.g.done).toBe(true);
    await running.idle();
    expect(sink.received.map((m) => (m.payload as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
  });

  it("a sync request whose path would block on a full edge is refused (load shedding), not queued", async () => {
    const hold = gate();
    const sink = probe("sink", { gate: hold });
    const running = await runtime().deploy(
      pipeline("p", [{ id: "h", type: "io.http" }, recorder("sink", "sink")], [
        { from: "h.out", to: "sink.in", mode: "async", queue: { capacity: 2, overflow: "block" } },
      ]),
    );
    const entry = running.entrypoints.get("p")!;
    const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => entry.invoke({ i }).then(() => "accepted", (err: Error) => err.name)));
    // One message is held by the consumer, two fill the queue: the last two requests are refused.
    expect(outcomes).toEqual(["accepted", "accepted", "accepted", "OverloadedError", "OverloadedError"]);
    expect(running.status().edges["h_out-sink_in"]).toMatchObject({ depth: 2, dropped: 0 });
    hold.open();
    await running.idle();
    expect(sink.received.map((m) => (m.payload as { i: number }).i)).toEqual([0, 1, 2]);
  });

  it("drop-oldest overflow keeps the newest messages and counts the drops", async () => {
    const hold = gate();
    const sink = probe("sink", { gate: hold });
    const running = await runtime().deploy(
      pipeline("p", [{ id: "h", type: "io.http" }, recorder("sink", "sink")], [
        { from: "h.out", to: "sink.in", mode: "async", queue: { capacity: 3, overflow: "drop-oldest" } },
      ]),
    );
    const entry = running.entrypoints.get("p")!;
    for (let i = 0; i < 10; i++) await entry.invoke({ i });
    expect(running.status().edges["h_out-sink_in"]).toMatchObject({ depth: 3, dropped: 6 });
    hold.open();
    await running.idle();
    // Message 0 was already with the consumer; 1..6 were dropped; the newest three remain.
    expect(sink.received.map((m) => (m.payload as { i: number }).i)).toEqual([0, 7, 8, 9]);
    expect(await runtimes[0].metrics.text()).toMatch(/evoflow_edge_dropped_total\{pipeline="p",edge="h_out-sink_in"\} 6/);
  });

  it("fans out to every edge and fans in from several async edges", async () => {
    const merged = probe("merged");
    const running = await runtime().deploy(
      pipeline("p", [{ id: "h", type: "io.http" }, recorder("a", "a"), recorder("b", "b"), recorder("m", "merged")], [
        { from: "h.out", to: "a.in" },
        { from: "h.out", to: "b.in", mode: "async" },
        { from: "a.out", to: "m.in", mode: "async" },
        { from: "b.out", to: "m.in", mode: "async" },
      ]),
    );
    probe("a");
    probe("b");
    for (let i = 0; i < 3; i++) await running.entrypoints.get("p")!.invoke({ i });
    await running.idle();
    expect(merged.received.map((m) => (m.payload as { i: number }).i).sort()).toEqual([0, 0, 1, 1, 2, 2]);
    // Every merged message names its parent: provenance survives fan-in.
    for (const m of merged.received) expect(m.parents).toHaveLength(1);
  });

  it("inner join waits for every input of a trace and replies once on a sync path", async () => {
    probe("a");
    probe("b");
    const running = await runtime().deploy(
      pipeline(
        "p",
        [
          { id: "h", type: "io.http" },
          { id: "a", type: "transform.jsonata", config: { expression: "v + 1" } },
          { id: "b", type: "transform.jsonata", config: { expression: "v * 10" } },
          { id: "j", type: "control.join", config: { inputs: ["plus", "times"], mode: "inner" } },
        ],
        [
          { from: "h.out", to: "a.in" },
          { from: "h.out", to: "b.in" },
          { from: "a.out", to: "j.plus" },
          { from: "b.out", to: "j.times" },
        ],
      ),
    );
    const replies = await running.entrypoints.get("p")!.invoke({ v: 4 });
    expect(replies.map((r) => r.payload)).toEqual([{ plus: 5, times: 40 }]);
    expect(replies[0].parents).toHaveLength(2);
  });

  it("sends a failing message and a mistyped one to the dead-letter stream and keeps serving", async () => {
    probe("picky", { fail: (m) => (m.payload as { n: number }).n === 13 });
    const running = await runtime().deploy(
      pipeline("p", [{ id: "h", type: "io.http" }, recorder("picky", "picky"), { id: "t", type: "test.tensorIn" }], [
        { from: "h.out", to: "picky.in" },
        { from: "h.out", to: "t.in", mode: "async" },
      ]),
    );
    const entry = running.entrypoints.get("p")!;
    await expect(entry.invoke({ n: 13 })).rejects.toThrow(/recorder picky refused/);
    const [ok] = await entry.invoke({ n: 14 });
    expect(ok.payload).toEqual({ n: 14 });
    await running.idle();
    const letters = running.deadLetters.toArray();
    // The async hand-off happens before the sync call, so its letter comes first.
    expect(letters.map((l) => [l.node, l.port, l.reason])).toEqual([
      ["t", "in", "payload does not match input t.in: expected a tensor {dtype, shape, data}"],
      ["picky", "in", "recorder picky refused message {\"n\":13}"],
      ["t", "in", "payload does not match input t.in: expected a tensor {dtype, shape, data}"],
    ]);
    expect(letters[1].message.payload).toEqual({ n: 13 });
    // A well-typed tensor goes through the typed input.
    await entry.invoke({ dtype: "float32", shape: [1, 4], data: new Float32Array(4) });
    await running.idle();
    expect(running.status().nodes.t).toMatchObject({ in: 1 });
  });

  it("keeps recent messages per edge and the provenance of every output", async () => {
    const running = await runtime().deploy(
      pipeline("p", [{ id: "h", type: "io.http" }, { id: "t1", type: "transform.set", config: { set: { a: 1 } } }, { id: "t2", type: "transform.set", config: { set: { b: 2 } } }], [
        { from: "h.out", to: "t1.in" },
        { from: "t1.out", to: "t2.in" },
      ]),
    );
    const [reply] = await running.entrypoints.get("p")!.invoke({ x: 0 }, { traceId: "4bf92f3577b34da6a3ce929d0e0e4736" });
    expect(reply.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    const tapped = running.taps.read("t1_out-t2_in");
    expect(tapped.total).toBe(1);
    expect(tapped.messages[0]).toMatchObject({ traceId: reply.traceId, source: { pipeline: "p", node: "t1", port: "out" }, payload: { x: 0, a: 1 } });
    expect(tapped.messages[0].id).toMatch(/^[0-9a-f]{16}$/);
    const [tree] = running.traces.tree(reply.traceId);
    expect(tree).toMatchObject({ node: "t2", payload: { x: 0, a: 1, b: 2 }, parents: [{ node: "t1", parents: [{ node: "h", payload: { x: 0 }, parents: [] }] }] });
  });
});
