import { Tag } from "cbor-x";
import { describe, expect, it } from "vitest";
import type { Message } from "../../runtime/envelope";
import { tensor } from "../../sdk/ports";
import { binaryBytes } from "../../runtime/binary-payload";
import { TraceStore } from "../../runtime/provenance";
import { decode, encode } from "../../runtime/transport/nats-codec";

let n = 0;
/** As the engine records: the payload weighed first. */
const record = (store: TraceStore, m: Message) => store.record(m, binaryBytes(m.payload));

function message(traceId: string, payload: unknown, parents: string[] = [], node = "n"): Message {
  return { id: `m${n++}`, traceId, parents, ts: 1000 + n, source: { pipeline: "p", node, port: "out" }, payload };
}

describe("the trace store", () => {
  it("gives back a trace's messages in order: binary data as it was when recorded, other payloads as the objects they are", () => {
    const store = new TraceStore(100);
    const pixels = Float32Array.from({ length: 784 }, (_, i) => i / 784);
    const input = message("t1", tensor("float32", [1, 784], pixels.slice()));
    const image = message("t1", { image: new Uint8Array(2048).fill(7), label: 3 }, [input.id]);
    const other = message("t2", { x: 1 });
    const output = message("t1", { label: 2 }, [image.id]);
    for (const m of [input, image, other, output]) record(store, m);
    // A node writing into the tensor later does not change what the trace shows.
    (input.payload as { data: Float32Array }).data.fill(0);

    const kept = store.messages("t1");
    expect(kept.map((m) => m.id)).toEqual([input.id, image.id, output.id]);
    expect(kept[0]).toEqual({ ...input, payload: { dtype: "float32", shape: [1, 784], data: pixels } });
    expect((kept[0].payload as { data: unknown }).data).toBeInstanceOf(Float32Array);
    expect(kept[1].payload).toEqual({ image: new Uint8Array(2048).fill(7), label: 3 });
    expect((kept[1].payload as { image: unknown }).image).toBeInstanceOf(Uint8Array);
    expect(kept[2]).toBe(output);
    expect(store.messages("t3")).toEqual([]);
  });

  it("copies binary data of every kind and size, each read getting its own copy", () => {
    const store = new TraceStore(10);
    const scores = tensor("float32", [1, 3], new Float32Array([0.25, 0.5, 0.25]));
    const named = { logits: tensor("float64", [2], new Float64Array([1.5, -2])), ids: tensor("int32", [2], new Int32Array([7, 9])) };
    const raw = Buffer.from("raw bytes");
    for (const payload of [scores, named, raw, new DataView(new ArrayBuffer(4))]) record(store, message("t", payload));
    const first = store.messages("t");
    expect(first.map((m) => m.payload)).toEqual([scores, named, raw, new DataView(new ArrayBuffer(4))]);
    expect(Buffer.isBuffer(first[2].payload)).toBe(true);
    expect(first[3].payload).toBeInstanceOf(DataView);
    expect((first[0].payload as { data: unknown }).data).not.toBe(scores.data);
    (first[0].payload as { data: Float32Array }).data.fill(0);
    expect(store.messages("t")[0].payload).toEqual(scores);
  });

  it("gives back no bytes outside a message's own for a held-view tag that came from elsewhere (a message decoded from NATS)", () => {
    const store = new TraceStore(10);
    record(store, message("t", { secret: new Uint8Array(64).fill(9) }));
    // The trace store's private tag, as a peer could send it: 64 bytes from where this message's data begins.
    const forged = decode(encode({ peek: new Tag([3, -64, 64], 40500), odd: new Tag([1, 0, 3], 40500), mine: new Uint8Array(8).fill(1) })) as Record<string, unknown>;
    record(store, message("t", forged));
    const [, kept] = store.messages("t");
    const payload = kept.payload as { mine: Uint8Array; peek: unknown; odd: unknown };
    expect(payload.mine).toEqual(new Uint8Array(8).fill(1));
    // Neither another message's bytes nor 3 bytes as a Float64Array.
    expect(ArrayBuffer.isView(payload.peek)).toBe(false);
    expect(ArrayBuffer.isView(payload.odd)).toBe(false);
  });

  it("forgets the oldest messages past its message count", () => {
    const store = new TraceStore(3);
    const sent = Array.from({ length: 5 }, (_, i) => message("t", { i }));
    for (const m of sent) record(store, m);
    expect(store.messages("t").map((m) => (m.payload as { i: number }).i)).toEqual([2, 3, 4]);
  });

  it("stays within its bytes: the oldest go first", () => {
    // 1 MiB in 8 chunks holds 280–320 messages of 3.2 KB; 2,000 are sent.
    const store = new TraceStore(10_000, 1024 * 1024);
    for (let i = 0; i < 2000; i++) record(store, message("t", { i, data: new Float32Array(784) }));
    record(store, message("t", { small: true }));
    const kept = store.messages("t").slice(0, -1).map((m) => (m.payload as { i: number }).i);
    expect(kept.length).toBeGreaterThanOrEqual(280);
    expect(kept.length).toBeLessThanOrEqual(330);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => 2000 - kept.length + k));
  });

  it("copies a message's bytes when it is recorded and encodes the rest a turn later, across chunks: reads in between see the same", async () => {
    // 1 MiB in 8 chunks of 128 KiB; 600 messages of 3.2 KB in bursts of 50, a turn of the event loop apart.
    const store = new TraceStore(10_000, 1024 * 1024);
    const tick = () => new Promise((resolve) => setTimeout(resolve, 2));
    const sent: Message[] = [];
    for (let burst = 0; burst < 12; burst++) {
      for (let i = 0; i < 50; i++) {
        const pixels = new Float32Array(784).fill(sent.length);
        const m = message("t", { i: sent.length, data: pixels });
        record(store, m);
        sent.push(m);
        pixels.fill(-1); // written into after it was emitted: the trace keeps what was emitted
      }
      if (burst === 5) expect(store.messages("t").at(-1)!.payload).toEqual({ i: 299, data: new Float32Array(784).fill(299) });
      await tick();
    }
    const kept = store.messages("t");
    expect(kept.length).toBeGreaterThanOrEqual(280);
    for (const m of kept) {
      const { i, data } = m.payload as { i: number; data: Float32Array };
      expect(m).toEqual({ ...sent[i], payload: { i, data: new Float32Array(784).fill(i) } });
      expect(data).toBeInstanceOf(Float32Array);
    }
    expect(kept.map((m) => (m.payload as { i: number }).i)).toEqual(Array.from({ length: kept.length }, (_, k) => 600 - kept.length + k));
  });

  it("keeps a note instead of a payload it cannot write or that is too big, and goes on", () => {
    const store = new TraceStore(10);
    record(store, message("t", { image: new Uint8Array(4096), f: Symbol("no") }));
    record(store, message("t", new Float32Array(1_000_000)));
    record(store, message("t", { label: 3, pixels: new Uint8Array(2048).fill(1) }));
    const [unencodable, big, fine] = store.messages("t");
    expect(unencodable.payload).toEqual({ unrecorded: expect.stringMatching(/^payload not kept: /) });
    expect(big.payload).toEqual({ unrecorded: expect.stringMatching(/^payload not kept: 4000\d{3} bytes, over the trace's limit of 524288 per message$/) });
    expect(fine.payload).toEqual({ label: 3, pixels: new Uint8Array(2048).fill(1) });
  });

  it("builds the tree behind each output, with parents from other traces", () => {
    const store = new TraceStore(100);
    const a = message("ta", 1, [], "source");
    const b = message("tb", 2, [], "source");
    const joined = message("ta", 3, [a.id, b.id], "join");
    for (const m of [a, b, joined]) record(store, m);
    const [tree] = store.tree("ta");
    expect(tree).toMatchObject({ id: joined.id, node: "join", parents: [{ id: a.id, payload: 1 }, { id: b.id, payload: 2 }] });
  });

  it("keeps nothing with a capacity of 0", () => {
    const store = new TraceStore(0);
    record(store, message("t", 1));
    expect(store.messages("t")).toEqual([]);
  });
});
