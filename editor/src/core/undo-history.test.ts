import { describe, expect, it } from "vitest";
import { UndoHistory } from "./undo-history";

describe("UndoHistory", () => {
  it("undoes and redoes in order, and a new change drops the redo steps", () => {
    const h = new UndoHistory<string>();
    h.remember("a");
    h.remember("b");
    expect(h.undo("c")).toBe("b");
    expect(h.undo("b")).toBe("a");
    expect(h.undo("a")).toBeUndefined();
    expect(h.redo("a")).toBe("b");
    h.remember("b");
    expect(h.redoSteps).toBe(0);
    expect(h.redo("x")).toBeUndefined();
  });

  it("makes one step of quick edits to the same field, and separate steps after a pause or of another field", () => {
    let now = 0;
    const h = new UndoHistory<number>({ now: () => now });
    h.remember(1, "config:a");
    now = 500;
    h.remember(2, "config:a");
    expect(h.undoSteps).toBe(1);
    now = 2500;
    h.remember(3, "config:a");
    h.remember(4, "config:b");
    expect(h.undoSteps).toBe(3);
    expect(h.undo(5)).toBe(4);
    // After an undo the next edit of the same field is a step of its own.
    h.remember(4, "config:b");
    expect(h.undoSteps).toBe(3);
  });

  it("keeps at most `limit` steps, dropping the oldest", () => {
    const h = new UndoHistory<number>({ limit: 3 });
    for (let i = 0; i < 5; i++) h.remember(i);
    expect([h.undo(5), h.undo(4), h.undo(3), h.undo(2)]).toEqual([4, 3, 2, undefined]);
  });
});
