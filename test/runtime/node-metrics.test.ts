/** The `metrics` service every Runtime gives its nodes: their own counters in its /metrics text. */
import { describe, expect, it } from "vitest";
import { Runtime } from "../../runtime/runtime";
import type { MetricsService } from "../../sdk";

describe("metrics service", () => {
  it("is a service of every runtime, its counters under evoflow_ labelled by pipeline and node, one per name", async () => {
    const runtime = new Runtime({ services: { other: 1 } });
    const service = runtime.services.metrics as MetricsService;
    const counter = service.counter("connector_reconnects", "Times a link came back");
    counter.inc({ pipeline: "p", node: "a" });
    service.counter("connector_reconnects", "asked again").inc({ pipeline: "p", node: "a" }, 2);
    service.counter("connector_reconnects", "asked again").inc({ pipeline: "p", node: "b" });
    const text = await runtime.metrics.text();
    expect(text).toContain("# HELP evoflow_connector_reconnects_total Times a link came back");
    expect(text).toContain('evoflow_connector_reconnects_total{pipeline="p",node="a"} 3');
    expect(text).toContain('evoflow_connector_reconnects_total{pipeline="p",node="b"} 1');
    expect(runtime.services.other).toBe(1);
  });

  it("refuses a name that is not lower-case words, ends in _total, or is one of the runtime's own", () => {
    const service = new Runtime().services.metrics as MetricsService;
    expect(() => service.counter("Reconnects", "x")).toThrow(/metric name "Reconnects": lower-case words joined by _/);
    expect(() => service.counter("reconnects_total", "x")).toThrow(/without _total/);
    expect(() => service.counter("node_messages_in", "x")).toThrow(/evoflow_node_messages_in_total is one of the runtime's own/);
  });
});
