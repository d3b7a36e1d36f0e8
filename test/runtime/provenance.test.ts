import { describe, expect, it } from "vitest";
import type { Message } from "../../runtime/envelope";
import { tensor } from "../../runtime/ports";
import { TraceStore } from "../../runtime/provenance";

let n = 0;
/** Two check phases of the event loop: the store has encoded what was recorded before. */
const afterTurn = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

function message(traceId: string, payload: unknown, parents: string[] = [], node = "n"): Message {
  return { id: `m${n++}`, traceId, parents, ts: 1000 + n, source: { pipeline: "p", node, port: "out" }, payload };
}

describe("the trace store", () => {
  it("gives back a trace's messages in order: binary payloads encoded as they were at the end of the turn, others as the objects they are", async () => {
    const store = new TraceStore(100);
    const pixels = Float32Array.from({ length: 784 }, (_, i) => i / 784);
    const input = message("t1", tensor("float32", [1, 784], pixels.slice()));
    const image = message("t1", { image: new Uint8Array(2048).fill(7), label: 3 }, [input.id]);
    const other = message("t2", { x: 1 });
    const output = message("t1", { label: 2 }, [image.id]);
    for (const m of [input, image, other, output]) store.record(m);
    await afterTurn();
    // A node writing into the tensor later does not change what the trace shows.
    (input.payload as { data: Float32Array }).data.fill(0);

    const kept = store.messages("t1");
    expect(kept.map((m) => m.id)).toEqual([input.id, image.id, output.id]);
    expect(kept[0]).toEqual({ ...input, payload: { dtype: "float32", shape: [1, 784], data: pixels } });
    expect((kept[0].payload as { data: unknown }).data).toBeInstanceOf(Float32Array);
    expect(kept[1].payload).toEqual({ image: new Uint8Array(2048).fill(7), label: 3 });
    expect(kept[2]).toBe(output);
    expect(store.messages("t3")).toEqual([]);
  });

  it("keeps small tensors encoded too, and a read before the encoding sees them", async () => {
    const store = new TraceStore(10);
    const scores = message("t", tensor("float32", [1, 3], new Float32Array([0.25, 0.5, 0.25])));
    store.record(scores);
    expect(store.messages("t")).toEqual([scores]);
    await afterTurn();
    const [kept] = store.messages("t");
    expect(kept).not.toBe(scores);
    expect(kept).toEqual(scores);
  });

  it("forgets the oldest messages past its message count", () => {
    const store = new TraceStore(3);
    const sent = Array.from({ length: 5 }, (_, i) => message("t", { i }));
    for (const m of sent) store.record(m);
    expect(store.messages("t").map((m) => (m.payload as { i: number }).i)).toEqual([2, 3, 4]);
  });

  it("stays within its bytes: the oldest go first", () => {
    // 1 MiB in 8 chunks holds 280–320 messages of 3.2 KB; 2,000 are sent.
    const store = new TraceStore(10_000, 1024 * 1024);
    for (let i = 0; i < 2000; i++) store.record(message("t", { i, data: new Float32Array(784) }));
    store.record(message("t", { small: true }));
    const kept = store.messages("t").slice(0, -1).map((m) => (m.payload as { i: number }).i);
    expect(kept.length).toBeGreaterThanOrEqual(280);
    expect(kept.length).toBeLessThanOrEqual(330);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => 2000 - kept.length + k));
  });

  it("keeps a note instead of a payload it cannot encode or that is too big, and goes on", () => {
    const store = new TraceStore(10);
    store.record(message("t", { image: new Uint8Array(4096), f: Symbol("no") }));
    store.record(message("t", new Float32Array(1_000_000)));
    store.record(message("t", "fine"));
    const [unencodable, big, fine] = store.messages("t");
    expect(unencodable.payload).toEqual({ unrecorded: expect.stringMatching(/^payload not kept: /) });
    expect(big.payload).toEqual({ unrecorded: expect.stringMatching(/4000\d+ bytes encoded, over the trace's limit/) });
    expect(fine.payload).toBe("fine");
  });

  it("builds the tree behind each output, with parents from other traces", () => {
    const store = new TraceStore(100);
    const a = message("ta", 1, [], "source");
    const b = message("tb", 2, [], "source");
    const joined = message("ta", 3, [a.id, b.id], "join");
    for (const m of [a, b, joined]) store.record(m);
    const [tree] = store.tree("ta");
    expect(tree).toMatchObject({ id: joined.id, node: "join", parents: [{ id: a.id, payload: 1 }, { id: b.id, payload: 2 }] });
  });

  it("keeps nothing with a capacity of 0", () => {
    const store = new TraceStore(0);
    store.record(message("t", 1));
    expect(store.messages("t")).toEqual([]);
  });
});
