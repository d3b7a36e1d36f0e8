import { describe, expect, it } from "vitest";
import { choicesOf, itemView, keyAction, labelledBy } from "./labeling";

describe("labeling page rules", () => {
  const classes = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot", "Extra"];

  it("gives classes the keys 1–9, 0, then letters; s and Escape skip", () => {
    const choices = choicesOf(classes, []);
    expect(choices.map((c) => c.key).join("")).toBe("1234567890q");
    expect(keyAction("1", choices)).toEqual({ kind: "label", label: 0 });
    expect(keyAction("0", choices)).toEqual({ kind: "label", label: 9 });
    expect(keyAction("Q", choices)).toEqual({ kind: "label", label: 10 });
    expect(keyAction("Escape", choices)).toEqual({ kind: "skip" });
    expect(keyAction("x", choices)).toBeUndefined();
    // Without class names: the model's guesses, by class index.
    expect(choicesOf(undefined, [{ label: 4, p: 0.6 }, { label: 1, name: "b", p: 0.3 }])).toEqual([{ label: 1, name: "b", key: "1" }, { label: 4, name: "4", key: "2" }]);
  });

  it("draws an image-shaped tensor as an image, a record as a table", () => {
    expect(itemView({ dtype: "float32", shape: [1, 784], data: new Array(784).fill(0) }).kind).toBe("image");
    expect(itemView({ temperature: 21.5, site: "north" })).toEqual({ kind: "record", rows: [["temperature", "21.5"], ["site", "north"]] });
    expect(itemView([1, 2])).toEqual({ kind: "json", text: "[1,2]" });
  });

  it("says who labelled an item", () => {
    const item = { id: "i", requestId: "r", enqueuedAt: 0, input: null, guesses: [], score: 1, strategy: "entropy", source: { pipeline: "p", node: "n" }, skips: [], label: { value: 5, labeler: "ann", at: Date.UTC(2026, 0, 2, 3, 4) } };
    expect(labelledBy(item, classes)).toMatch(/^Sandal by ann at 02\/01\/2026/);
    expect(labelledBy({ ...item, label: undefined })).toBeUndefined();
  });
});
