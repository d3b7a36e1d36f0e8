import { describe, expect, it } from "vitest";
import { detailAt, FIT_MIN_ZOOM, MIN_TEXT_PX, textScale } from "./canvas-detail";

describe("canvas detail by zoom", () => {
  it("keeps every text at or above the minimum on screen: full, then without port types, then compact", () => {
    expect(detailAt(1.25)).toBe("full");
    expect(detailAt(1)).toBe("full");
    expect(detailAt(0.9)).toBe("names"); // 10 px port types would print at 9 px
    expect(detailAt(0.84)).toBe("names");
    expect(detailAt(0.8)).toBe("compact"); // 12 px names would print at 9.6 px
    expect(detailAt(FIT_MIN_ZOOM)).toBe("compact");
  });

  it("enlarges compact text so 12 px stays 12 px on screen down to a quarter zoom, and never shrinks it", () => {
    expect(textScale(1.25)).toBe(1);
    expect(textScale(0.5) * 12 * 0.5).toBe(12);
    expect(textScale(0.25)).toBe(4);
    expect(textScale(0.1)).toBe(4);
    // At the smallest zoom Fit uses, the smallest compact text (10 px type titles) is still at the minimum.
    expect(10 * textScale(FIT_MIN_ZOOM) * FIT_MIN_ZOOM).toBeGreaterThanOrEqual(MIN_TEXT_PX);
  });
});
