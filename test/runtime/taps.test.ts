import { describe, expect, it } from "vitest";
import { binaryBytes } from "../../runtime/binary-payload";
import type { Message } from "../../runtime/envelope";
import { tensor } from "../../sdk/ports";
import { Ring } from "../../sdk/ring";
import { TapStore } from "../../runtime/taps";

let n = 0;
function message(payload: unknown): Message {
  return { id: `m${n++}`, traceId: "t", parents: [], ts: n, source: { pipeline: "p", node: "n", port: "out" }, payload };
}
const MiB = 1024 * 1024;

describe("tap rings", () => {
  it("keep the last messages by count, and by the binary data they hold: the oldest go first, the newest always stays", () => {
    const taps = new TapStore(256, 4 * MiB);
    const ring = taps.ring("a->b");
    // 1 MiB tensors: four fit in 4 MiB.
    const sent = Array.from({ length: 10 }, (_, i) => message({ i, image: tensor("float32", [262144], new Float32Array(262144)) }));
    for (const m of sent) taps.record("a->b", ring, m, binaryBytes(m.payload));
    expect(taps.read("a->b")).toEqual({ total: 10, messages: sent.slice(6) });
    // Messages without binary data weigh nothing: the count bounds them.
    const small = Array.from({ length: 300 }, (_, i) => message({ i }));
    for (const m of small) taps.record("a->b", ring, m, binaryBytes(m.payload));
    expect(taps.read("a->b").messages).toEqual(small.slice(300 - 256));
    // One message over the budget on its own is kept, alone.
    const huge = message(new Float64Array(MiB));
    taps.record("a->b", ring, huge, binaryBytes(huge.payload));
    expect(taps.read("a->b").messages).toEqual([huge]);
    const after = message({ label: 1 });
    taps.record("a->b", ring, after, binaryBytes(after.payload));
    expect(taps.read("a->b")).toEqual({ total: 312, messages: [after] });
  });

  it("without a budget, a ring is bounded by count only", () => {
    const ring = new Ring<number>(3);
    for (let i = 0; i < 5; i++) ring.push(i);
    expect(ring.toArray()).toEqual([2, 3, 4]);
    expect(ring.toArray(2)).toEqual([3, 4]);
    expect(ring.total).toBe(5);
  });
});
