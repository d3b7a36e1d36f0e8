import { describe, expect, it } from "vitest";
import { imageRow, loadFashionMnist, loadFashionMnistImages } from "../../nodes/continual-learning/fashion-mnist";

describe("Fashion-MNIST loading", () => {
  it("reads a range of rows as bytes that match the whole split read at once", async () => {
    const whole = loadFashionMnist("test");
    const part = await loadFashionMnistImages("test", { from: 9_000, to: 9_500 });
    expect(part.count).toBe(500);
    expect(part.pixels.length).toBe(500 * 784);
    for (const i of [0, 1, 250, 499]) {
      expect(part.y[i]).toBe(whole.y[9_000 + i]);
      expect(imageRow(part, i)).toEqual(whole.x.subarray((9_000 + i) * 784, (9_001 + i) * 784));
    }
  });

  it("stops at the end of the split and applies the demo's domain shifts per image", async () => {
    const tail = await loadFashionMnistImages("test", { from: 9_990 });
    expect(tail.count).toBe(10);
    const row = imageRow(tail, 3);
    const inverted = imageRow(tail, 3, "invert");
    const rotated = imageRow(tail, 3, "rotate90");
    expect(inverted[100]).toBeCloseTo(1 - row[100], 6);
    // A quarter turn clockwise: row r, column c goes to row c, column 27 − r.
    expect(rotated[5 * 28 + (27 - 2)]).toBe(row[2 * 28 + 5]);
  });
});
