/**
 * Training triggers: each policy fires for its reason, and the cooldown turns a
 * storm of drift events into one training; the node on its own with evoflow/testing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { TriggerPolicy, type TriggerEvent } from "../../nodes/control/trigger-policy";
import { loadNode, type TestNode } from "../../testing";
import { builtin } from "../nodes/builtin";

describe("trigger policies", () => {
  it("volume: fires after N new labelled samples, then counts again from zero", () => {
    const p = new TriggerPolicy({ cooldownMs: 0, volume: { samples: 3 } }, 0);
    expect([1, 2].map((t) => p.sample(t))).toEqual([undefined, undefined]);
    expect(p.sample(3)).toMatchObject({ kind: "trigger", policy: "volume", newSamples: 3, reason: "3 new labelled samples (≥ 3)" });
    expect(p.sample(4)).toBeUndefined();
  });

  it("volume: fires on +x % over the samples of the last training", () => {
    const p = new TriggerPolicy({ cooldownMs: 0, volume: { samples: 100, growth: 0.2 } }, 0);
    for (let i = 0; i < 99; i++) expect(p.sample(i)).toBeUndefined();
    expect(p.sample(99)?.newSamples).toBe(100);
    for (let i = 0; i < 19; i++) expect(p.sample(100 + i)).toBeUndefined();
    expect(p.sample(200)).toMatchObject({ policy: "volume", newSamples: 20, reason: expect.stringMatching(/\+20 % over the 100/) });
  });

  it("performance: fires when rolling accuracy falls under the threshold, once enough outcomes came", () => {
    const p = new TriggerPolicy({ cooldownMs: 0, performance: { threshold: 0.8, window: 10, minOutcomes: 5 } }, 0);
    for (let i = 0; i < 10; i++) expect(p.outcome(true, i)).toBeUndefined();
    expect(p.outcome(false, 10)).toBeUndefined(); // 0.9
    expect(p.outcome(false, 11)).toBeUndefined(); // 0.8, not under
    const event = p.outcome(false, 12); // 0.7
    expect(event).toMatchObject({ policy: "performance", accuracy: 0.7 });
    expect(event?.reason).toMatch(/rolling accuracy 0\.700 over the last 10 predictions is under 0\.8/);
  });

  it("time: fires every period on the caller's clock", () => {
    const p = new TriggerPolicy({ cooldownMs: 0, time: { everyMs: 1000 } }, 0);
    expect(p.tick(999)).toBeUndefined();
    expect(p.tick(1000)).toMatchObject({ policy: "time", at: 1000 });
    expect(p.tick(1500)).toBeUndefined();
    expect(p.tick(2000)?.policy).toBe("time");
  });

  it("drift: fires on drift events at or above the magnitude asked, naming the detector", () => {
    const p = new TriggerPolicy({ cooldownMs: 0, drift: { minMagnitude: 1 } }, 0);
    expect(p.drift({ detector: "ks", magnitude: 0.5 }, 1)).toBeUndefined();
    expect(p.drift({ detector: "adwin", magnitude: 1.5, reason: "mean moved" }, 2)).toMatchObject({
      policy: "drift",
      drift: { detector: "adwin", magnitude: 1.5 },
      reason: "drift reported by adwin: mean moved",
    });
  });

  it("cooldown: suppresses firings for cooldownMs, counts them, and reports the count in the next event", () => {
    const p = new TriggerPolicy({ cooldownMs: 1000, drift: {}, volume: { samples: 2 } }, 0);
    const fired: TriggerEvent[] = [];
    const keep = (e: TriggerEvent | undefined) => e && fired.push(e);
    keep(p.drift({ detector: "adwin" }, 100));
    for (let t = 110; t < 1100; t += 100) keep(p.drift({ detector: "ks" }, t)); // ten more drifts within the cooldown
    keep(p.sample(500));
    keep(p.sample(600)); // volume reached, still cooling down
    expect(fired).toHaveLength(1);
    keep(p.drift({ detector: "kswin" }, 1100));
    expect(fired).toHaveLength(2);
    expect(fired[1]).toMatchObject({ policy: "drift", suppressed: 11, newSamples: 2 }); // ten drifts and the volume firing
  });
});

describe("control.trigger node", () => {
  const trigger = builtin("control.trigger");
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.stop();
    node = undefined;
  });

  it("turns a burst of drift events from two detectors into one trigger event", async () => {
    node = await loadNode(trigger, { config: { cooldownMs: 3_600_000, drift: {} } });
    for (let i = 0; i < 10; i++) await node.send("drift", { kind: "drift", detector: i % 2 ? "ks" : "adwin", magnitude: 1 + i, reason: `shift ${i}` });
    expect(node.payloads("out")).toEqual([
      expect.objectContaining({ kind: "trigger", policy: "drift", drift: { detector: "adwin", magnitude: 1, reason: "shift 0" } }),
    ]);
    expect(node.status()).toMatchObject({ fired: 1, suppressed: 9, coolingDown: true });
  });

  it("performance policy compares the prediction with the label of joined samples", async () => {
    node = await loadNode(trigger, {
      config: { cooldownMs: 3_600_000, drift: false, performance: { threshold: 0.9, window: 20, minOutcomes: 20, prediction: "payload.prediction", label: "payload.y" } },
    });
    // 30 right, then every third wrong: over the last 20, two errors make 0.9 (not under), the third 0.85.
    for (let i = 0; i < 30; i++) await node.send("outcomes", { prediction: i % 3, y: i % 3 });
    for (let i = 0; i < 12; i++) await node.send("outcomes", { prediction: 1, y: i % 3 === 0 ? 0 : 1 });
    expect(node.payloads("out")).toEqual([
      expect.objectContaining({ kind: "trigger", policy: "performance", accuracy: 0.85, reason: expect.stringMatching(/rolling accuracy 0\.850 over the last 20/) }),
    ]);
  });

  it("time policy fires on its own clock and says so", async () => {
    node = await loadNode(trigger, { config: { cooldownMs: 0, time: { everyMs: 20 }, drift: false } });
    const first = await node.next("out");
    await node.next("out");
    expect(first.payload).toMatchObject({ kind: "trigger", policy: "time", reason: "20 ms since the last scheduled training" });
  });

  it("refuses a trigger with no policy", async () => {
    await expect(loadNode(trigger, { config: { drift: false } })).rejects.toThrow(/\$\.config: .*at least one policy/);
  });
});
