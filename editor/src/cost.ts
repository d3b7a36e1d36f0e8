/**
 * CPU and cost figures for the dashboard and model cards, read from what the runtime exports:
 * /metrics' evoflow_node_cpu_seconds_total and messages-in counters (runtime/cost-metrics.ts) and
 * the gate's cost per 1,000 inferences on a model card.
 */
import type { CostPer1000 } from "../../sdk/cost";

export type { CostPer1000 };

/** "1.23 ms CPU · 0.0000171 USD": CPU-seconds and price per 1,000 calls. */
export function costLine(c: CostPer1000): string {
  return `${(c.cpuSeconds * 1000).toPrecision(3)} ms CPU · ${c.cost.toPrecision(3)} ${c.currency}`;
}

function labelsOf(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
}

/** Per node of `pipeline`: a counter's value, from the Prometheus text. */
function perNode(metricsText: string, name: string, pipeline: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of metricsText.matchAll(new RegExp(`^${name}\\{([^}]*)\\}\\s+(\\S+)$`, "gm"))) {
    const labels = labelsOf(m[1]);
    if (labels.pipeline === pipeline) out.set(labels.node, Number(m[2]));
  }
  return out;
}

export interface NodeCpu {
  cpuSeconds: number;
  messages: number;
}

export function nodeCpu(metricsText: string, pipeline: string): Map<string, NodeCpu> {
  const cpu = perNode(metricsText, "evoflow_node_cpu_seconds_total", pipeline);
  const messages = perNode(metricsText, "evoflow_node_messages_in_total", pipeline);
  return new Map([...cpu].map(([node, cpuSeconds]) => [node, { cpuSeconds, messages: messages.get(node) ?? 0 }]));
}

/** CPU milliseconds per message of each node between two polls; nodes that handled nothing meanwhile are left out. */
export function cpuMsPerMessage(now: Map<string, NodeCpu>, before: Map<string, NodeCpu> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const [node, n] of now) {
    const b = before?.get(node);
    const messages = n.messages - (b?.messages ?? 0);
    if (messages > 0) out.set(node, ((n.cpuSeconds - (b?.cpuSeconds ?? 0)) / messages) * 1000);
  }
  return out;
}

/** Cost of 1,000 messages through every node of the pipeline (each node's own per-1,000 figure, summed), since it started. */
export function pipelineCostPer1000(metricsText: string, pipeline: string): { cost: number; currency: string; energySource?: string } | undefined {
  let cost = 0;
  let currency: string | undefined;
  for (const m of metricsText.matchAll(/^evoflow_node_cost_per_1000_calls\{([^}]*)\}\s+(\S+)$/gm)) {
    const labels = labelsOf(m[1]);
    if (labels.pipeline !== pipeline) continue;
    cost += Number(m[2]);
    currency = labels.currency;
  }
  if (currency === undefined) return undefined;
  const source = /^evoflow_energy_joules_per_cpu_second\{source="(\w+)"\}/m.exec(metricsText)?.[1];
  return { cost, currency, energySource: source };
}
