import { describe, expect, it } from "vitest";
import { bundleCurve, bundleEdges, edgeFigures, placeBundles, queueFill, queueText, rateText } from "./edge-bundles";

const e = (id: string, source: string, target: string, mode?: string) => ({ id, source, target, mode });

describe("edge bundles", () => {
  it("merges the edges between one pair of nodes into one bundle with its members and mode", () => {
    const bundles = bundleEdges([e("a1", "a", "b", "async"), e("a2", "a", "b", "async"), e("a3", "a", "c"), e("x", "b", "c", "async")]);
    expect(bundles.map((b) => [b.id, b.members, b.mode])).toEqual([
      ["a→b", ["a1", "a2"], "async"],
      ["a→c", ["a3"], "sync"],
      ["b→c", ["x"], "async"],
    ]);
    expect(bundleEdges([e("s", "a", "b", "sync"), e("t", "a", "b", "async")])[0].mode).toBe("mixed");
  });

  it("gives a node where three or more bundles meet a trunk counting every edge through it, drawn by one bundle", () => {
    const bundles = bundleEdges([e("1", "src", "p"), e("2", "src", "q"), e("3", "src", "q"), e("4", "src", "r"), e("5", "p", "r"), e("6", "q", "r")]);
    const fromSrc = bundles.filter((b) => b.source === "src");
    expect(fromSrc.map((b) => b.sourceTrunk)).toEqual([{ count: 4, lead: true }, { count: 4, lead: false }, { count: 4, lead: false }]);
    expect(bundles.filter((b) => b.target === "r").map((b) => b.targetTrunk?.count)).toEqual([3, 3, 3]);
    // One bundle (of two edges) enters q: no trunk there.
    expect(bundles.find((b) => b.target === "q")?.targetTrunk).toBeUndefined();
  });

  it("lets the first member of a bundle draw it and the others draw nothing", () => {
    const placed = placeBundles(bundleEdges([e("a1", "a", "b"), e("a2", "a", "b")]));
    expect(placed.get("a1")?.lead).toBe(true);
    expect(placed.get("a2")?.lead).toBe(false);
    expect(placed.get("a2")?.bundle).toBe(placed.get("a1")?.bundle);
  });

  it("puts a bundle's label at the middle of its curve unless a node covers it there", () => {
    const from = { x: 0, y: 0 };
    const to = { x: 200, y: 100 };
    expect(bundleCurve(from, to, []).label).toEqual({ x: 100, y: 50 });
    const over = bundleCurve(from, to, [{ x: 80, y: 30, width: 40, height: 40 }]).label;
    expect(over.x < 80 || over.x > 120 || over.y < 30 || over.y > 70).toBe(true);
    expect(bundleCurve(from, to, []).d).toBe("M 0,0 C 100,0 100,100 200,100");
  });
});

describe("live edge figures", () => {
  const live = (mode: string, depth: number, capacity: number | undefined, rate: number, dropped = 0) => ({ mode, depth, capacity, dropped, tapped: 0, rate });

  it("calls a queue high from 80 % and full at capacity", () => {
    expect(queueFill(79, 100)).toBe("ok");
    expect(queueFill(80, 100)).toBe("high");
    expect(queueFill(100, 100)).toBe("full");
    expect(queueFill(5, undefined)).toBe("ok");
  });

  it("sums rates and drops of a bundle and shows its fullest async queue against its capacity", () => {
    const f = edgeFigures([live("async", 10, 1024, 3), live("async", 90, 100, 2.4, 4), live("sync", 0, undefined, 5), undefined])!;
    expect(rateText(f)).toBe("10/s · 4 dropped");
    expect(f.queue).toEqual({ depth: 90, capacity: 100, fill: "high" });
    expect(queueText(f.queue!)).toBe("queue 90/100");
    expect(edgeFigures([live("sync", 0, undefined, 1)])!.queue).toBeUndefined();
    expect(edgeFigures([undefined])).toBeUndefined();
  });
});
