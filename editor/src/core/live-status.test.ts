import { describe, expect, it } from "vitest";
import { ApiError, type PipelineStatus } from "../api";
import { pollLiveStatus, StatusRates, type LiveStatus } from "./live-status";

const status = (out: number, tapped: number): PipelineStatus => ({
  name: "p",
  transport: "memory",
  nodes: { a: { type: "transform.set", in: out, out, errors: 1, drift: 0.5 } },
  edges: { e: { mode: "async", depth: 2, dropped: 0, tapped } },
});

describe("live status", () => {
  it("turns counters into rates per second since the previous poll, with the node's other figures kept", () => {
    const rates = new StatusRates();
    const first = rates.update(status(10, 4), 0);
    expect(first.nodes.get("a")).toEqual({ in: 10, out: 10, errors: 1, rate: 0, extra: { drift: 0.5 } });
    const second = rates.update(status(30, 14), 2000);
    expect(second.nodes.get("a")!.rate).toBe(10);
    expect(second.edges.get("e")).toEqual({ mode: "async", depth: 2, dropped: 0, tapped: 14, rate: 5 });
    // A counter that went back (a restart) is no negative rate.
    expect(rates.update(status(0, 0), 3000).nodes.get("a")!.rate).toBe(0);
  });

  it("polls until stopped, and stops by itself when the pipeline is gone (404)", async () => {
    const seen: LiveStatus[] = [];
    let calls = 0;
    let gone = 0;
    const stop = pollLiveStatus({
      fetchStatus: async () => {
        calls++;
        if (calls === 2) throw new Error("network"); // skipped; the next poll goes on
        if (calls >= 4) throw new ApiError(404, "no pipeline", {});
        return status(calls, calls);
      },
      onStatus: (s) => seen.push(s),
      onGone: () => gone++,
      intervalMs: 5,
    });
    await new Promise((r) => setTimeout(r, 80));
    expect(calls).toBe(4);
    expect(seen).toHaveLength(2);
    expect(gone).toBe(1);
    stop();
  });
});
