import { describe, expect, it } from "vitest";
import { readableField, readableInline } from "./readable";

describe("readable card values", () => {
  it("writes a trigger with its kind and reason first", () => {
    expect(readableField({ kind: "drift", reason: "DDM: error rate rose", detector: "ddm", magnitude: 0.23456 })).toBe("drift — DDM: error rate rose · detector ddm · magnitude 0.2346");
    expect(readableField({ kind: "volume" })).toBe("volume");
  });

  it("writes strategy parts (replay, ewc) as words, never JSON", () => {
    const replay = readableInline({ buffer: 2000, share: 0.5, balanced: true });
    expect(replay).toBe("buffer 2,000 · share 0.5 · balanced");
    expect(readableInline({ lambda: 100, online: false })).toBe("lambda 100 · no online");
    for (const text of [replay, readableField({ kind: "drift", reason: "x", extra: { a: 1 } })]) expect(text).not.toMatch(/[{}"]/);
  });

  it("writes class counts, ranges and long lists briefly", () => {
    expect(readableInline({ "0": 1200, "1": 1180, "5": 40 })).toBe("3 classes: 0 (1,200), 1 (1,180), 5 (40)");
    expect(readableInline({ stream: "fmnist.collector", ranges: [{ from: 1, to: 500 }, { from: 600, to: 700 }] })).toBe("stream fmnist.collector · ranges 1–500, 600–700");
    expect(readableInline(Array.from({ length: 10 }, (_, i) => `m${i}`))).toBe("10 items: m0, m1, m2, m3, m4, m5, …");
    expect(readableInline([])).toBe("none");
    expect(readableInline(undefined)).toBe("—");
  });
});
