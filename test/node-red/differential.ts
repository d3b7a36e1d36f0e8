/**
 * Issue 21 point 4: a Node-RED example flow run in a real Node-RED 4 (a child process) and,
 * imported by `evoflow import`'s converter, in an in-process Evoflow Runtime (exec granted, so
 * the hosted `node-red.<type>` nodes run), fed the same injected messages; the payloads that
 * reach each debug node are compared message by message.
 *
 * Inputs: each inject node. In Node-RED it is fired through the admin API (`POST /inject/:id`,
 * its timers and "once" turned off so it fires only then) and what it sent is recorded; in
 * Evoflow the hosted inject is replaced by an `io.http` entry point that is invoked with that
 * same payload. Outputs: in Node-RED each debug node is replaced by a function and a file node
 * writing `{ payload }` as a JSON line; in Evoflow by an `io.sink` fed by the edges the debug's
 * feeders had, whose taps hold what arrived. Only `msg.payload` is compared: it is all an
 * Evoflow edge carries, and an absent payload (undefined) counts as null, as an Evoflow payload is JSON.
 */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { edgeId } from "../../sdk/pipeline";
import { mappingContext } from "../../runtime/node-red-import/context";
import { importNodeRedFlows, formatReport } from "../../runtime/node-red-import/convert";
import { flowGraph, type FlowNode } from "../../runtime/node-red-import/flows";
import { mapNode } from "../../runtime/node-red-import/mapping";
import type { Runtime } from "../../runtime/runtime";
import { jsonlSink, placed, type NodeRed } from "../integrations/node-red";

/** Node types whose examples need what this run does not give: outside hosts, files, commands, ports. */
const NEEDS: Record<string, string> = {
  exec: "runs a shell command",
  file: "writes a file",
  "file in": "reads a file",
  watch: "watches the file system",
  "http request": "requests http://localhost:1880 (Node-RED's default port, not the one under test)",
  "tcp in": "listens on a TCP port",
  "tcp out": "opens a TCP connection",
  "tcp request": "opens a TCP connection",
  "udp in": "listens on a UDP port",
  "udp out": "sends UDP datagrams",
  "websocket in": "needs a websocket server",
  "websocket out": "needs a websocket server",
  "mqtt in": "needs an MQTT broker",
  "mqtt out": "needs an MQTT broker",
  serial: "needs serial hardware",
};

export type Outcome =
  | { status: "skipped"; reason: string }
  /** `fromNodeRed`: the (normalised) payloads that reached each debug node in Node-RED, by its id. */
  | { status: "pass" | "fail"; reason: string; messages: number; fromNodeRed?: Record<string, unknown[]> };

/** Why the example cannot run here, or undefined when it can. */
export function skipReason(flow: FlowNode[]): string | undefined {
  const types = new Set(flow.map((n) => n.type));
  const needs = [...types].filter((t) => NEEDS[t]).map((t) => `${t} ${NEEDS[t]}`);
  if (needs.length) return needs.join("; ");
  if (!types.has("inject")) return "no inject node: nothing to feed it";
  if (!types.has("debug")) return "no debug node: nothing to compare";
  return undefined;
}

/** The longest wait a delay, trigger or batch node of the flow makes, in ms. */
function longestTimer(flow: FlowNode[]): number {
  const unit = (u: unknown) => ({ milliseconds: 1, ms: 1, seconds: 1000, s: 1000, minutes: 60_000, min: 60_000, hours: 3_600_000, hr: 3_600_000 })[String(u ?? "seconds")] ?? 1000;
  const waits = flow.flatMap((n) => {
    if (n.type === "delay") return [Number(n.timeout ?? 0) * unit(n.timeoutUnits), (1000 * Number(n.nbRateUnits ?? 1)) / Math.max(1, Number(n.rate ?? 1))];
    if (n.type === "trigger") return [Math.abs(Number(n.duration ?? 0)) * unit(n.units)];
    if (n.type === "batch" && n.mode === "interval") return [Number(n.interval ?? 0) * 1000];
    return [];
  });
  return Math.max(0, ...waits.filter(Number.isFinite));
}

/** The msg properties other than payload the flow's injects set (a topic only when not empty). */
function besidePayload(flow: FlowNode[]): string[] {
  const props = flow
    .filter((n) => n.type === "inject")
    .flatMap((n) => {
      const list = Array.isArray(n.props) ? (n.props as { p: string; v?: unknown }[]) : [{ p: "payload" }, { p: "topic" }];
      return list.filter((p) => p.p !== "payload" && (p.p !== "topic" || (p.v ?? n.topic))).map((p) => `msg.${p.p}`);
    });
  return [...new Set(props)];
}

/** What the flow relies on that the import does not carry across nodes: named in a failure's reason. */
function reliesOn(flow: FlowNode[]): string[] {
  const found: string[] = [];
  const text = JSON.stringify(flow.filter((n) => n.type !== "comment"));
  if (/"(pt|tot|propertyType|vt)":"flow"|flow\.(get|set)\(/.test(text))
    found.push("it keeps flow context: each hosted node runs on a Node-RED tab of its own, so one node's flow context is not the next one's");
  if (flow.some((n) => ["split", "join", "batch", "sort"].includes(n.type) || (n.type === "csv" && n.multi === "one") || (n.type === "html" && n.as === "multi")))
    found.push("it makes or reads message sequences (msg.parts): an Evoflow edge carries the payload only");
  return found;
}

const KEEP = "JSON.stringify(msg.payload === undefined ? {} : { payload: msg.payload })";
const fileOf = (dir: string, id: string) => join(dir, `${id.replace(/[^\w.-]/g, "_")}.jsonl`);

/**
 * The example for Node-RED: injects fired only by the harness, what each sent and what reaches
 * each debug node recorded by a capture beside it (the debug node stays: complete and status
 * nodes watch it).
 */
function forNodeRed(flow: FlowNode[], dir: string): Record<string, unknown>[] {
  const debugs = new Set(flow.filter((n) => n.type === "debug").map((n) => n.id));
  const seen = (id: string) => `${id}-seen`;
  return placed(
    flow.flatMap((n): Record<string, unknown>[] => {
      const wires = n.wires?.map((port) => port.flatMap((t) => (debugs.has(t) ? [t, seen(t)] : [t])));
      if (n.type === "debug") return [n, ...jsonlSink(seen(n.id), n.z!, fileOf(dir, seen(n.id)), KEEP)];
      if (n.type !== "inject") return [{ ...n, ...(wires && { wires }) }];
      return [{ ...n, once: false, repeat: "", crontab: "", wires: [[...(wires?.[0] ?? []), seen(n.id)]] }, ...jsonlSink(seen(n.id), n.z!, fileOf(dir, seen(n.id)), KEEP)];
    }),
  );
}

function readLines(file: string): unknown[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { payload?: unknown }).payload);
}

/** A payload as JSON gives it (as the Node-RED side's file did), bytes as a Buffer's JSON form. */
const asJson = (v: unknown): unknown => (v === undefined ? v : JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? { type: "Buffer", data: [...x] } : x))));

/** Times made comparable: a clock reading becomes "<time>". */
export function normalize(value: unknown, now = Date.now()): unknown {
  // An Evoflow payload is JSON: Node-RED's absent payload (undefined) arrives as null.
  if (value === undefined) return null;
  if (typeof value === "number" && Math.abs(value - now) < 3_600_000) return "<time>";
  if (typeof value === "string" && (/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value) || /^\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d/.test(value))) return "<time>";
  if (Array.isArray(value)) return value.map((v) => normalize(v, now));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, now)]));
  return value;
}

/** The imported pipelines with each inject an entry point and each debug a sink; what the harness reads of them. */
interface Imported {
  pipelines: unknown[];
  /** inject's Node-RED id → entry point name. */
  entries: Map<string, string>;
  /** debug's Node-RED id → the pipeline and the edges that feed its sink. */
  sinks: Map<string, { pipeline: string; edges: string[] }>;
  report: string;
  notCarried: string[];
}

export function importForEvoflow(flow: FlowNode[], name: string, runtime: Runtime): Imported {
  const context = mappingContext(runtime.nodeTypes);
  const result = importNodeRedFlows(flow, { ...context, fallbackName: name });
  const graph = flowGraph(flow);
  const entries = new Map<string, string>();
  const sinks = new Map<string, { pipeline: string; edges: string[] }>();
  const mapped = new Map(result.report.filter((l) => l.mapping === "node").map((l) => [l.nodeRedId, l]));
  const pipelines = result.pipelines.map(({ pipeline }) => {
    const nodes = (pipeline.nodes as { id: string; type: string; config?: unknown }[]).map((node) => {
      const from = [...mapped.values()].find((l) => l.pipeline === pipeline.name && l.id === node.id);
      if (from?.nodeRedType !== "inject") return node;
      const entry = `${pipeline.name}-${node.id}`.slice(0, 128);
      entries.set(from.nodeRedId, entry);
      return { id: node.id, type: "io.http", config: { name: entry } };
    });
    const edges = [...(pipeline.edges as { from: string; to: string; mode?: string }[])];
    for (const debug of [...graph.nodes.values()].filter((n) => n.type === "debug" && mapped.get(n.id) === undefined)) {
      const tab = [...graph.nodes.values()].filter((n) => n.z === debug.z);
      if (!tab.some((n) => mapped.get(n.id)?.pipeline === pipeline.name)) continue;
      const sink = `debug-${sinks.size + 1}`;
      nodes.push({ id: sink, type: "io.sink", config: { kind: "discard" } });
      const feeding: string[] = [];
      for (const n of tab) {
        const line = mapped.get(n.id);
        if (!line) continue;
        const mapping = mapNode(n, { ...context, configNode: (id) => graph.configNodes.get(id) });
        if (mapping.kind !== "node") continue;
        (n.wires ?? []).forEach((targets, k) => {
          if (!targets.includes(debug.id) || !mapping.ports[k]) return;
          const edge = { from: `${line.id}.${mapping.ports[k]}`, to: `${sink}.in`, mode: "async" };
          edges.push(edge);
          feeding.push(edgeId(edge));
        });
      }
      sinks.set(debug.id, { pipeline: pipeline.name, edges: feeding });
    }
    return { ...pipeline, nodes, edges };
  });
  const notCarried = result.report.filter((l) => l.mapping === "not carried").map((l) => `${l.nodeRedType}: ${l.notes.join("; ")}`);
  return { pipelines, entries, sinks, report: formatReport(result), notCarried };
}

/** Waits until `count()` has not changed for `quietMs` (at most `maxMs`). */
async function settle(count: () => number, quietMs: number, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  let last = count();
  let since = Date.now();
  while (Date.now() < end && Date.now() - since < quietMs) {
    await new Promise((r) => setTimeout(r, 50));
    const now = count();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}

const short = (v: unknown) => {
  const s = JSON.stringify(v) ?? "undefined";
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

/** Undeploys, at most `ms` waiting for the pipeline to drain; whether it did. */
async function undeployed(runtime: Runtime, name: string, ms = 10_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = await Promise.race([runtime.undeploy(name).then(() => true), gaveUp]);
  clearTimeout(timer);
  return done;
}

/** Runs one example in both and compares; `dir` is a folder of its own for Node-RED's files. */
export async function differential(flow: FlowNode[], name: string, red: NodeRed, runtime: Runtime, dir: string): Promise<Outcome> {
  const skip = skipReason(flow);
  if (skip) return { status: "skipped", reason: skip };
  const outcome = await compared(flow, name, red, runtime, dir);
  if (outcome.status === "skipped") return outcome;
  const stuck = [];
  for (const p of outcome.running) if (!(await undeployed(runtime, p))) stuck.push(p);
  const { running: _running, ...result } = outcome;
  if (!stuck.length) return result;
  // A message a hosted node never reported done for keeps the pipeline from draining.
  return { ...result, status: "fail", reason: `${result.status === "pass" ? `${result.reason}, but ` : `${result.reason}; `}pipeline ${stuck.join(", ")} did not drain within 10 s of undeploy (a hosted node never reported done)` };
}

async function compared(flow: FlowNode[], name: string, red: NodeRed, runtime: Runtime, dir: string): Promise<Outcome & { running: string[] }> {
  const imported = importForEvoflow(flow, name, runtime);
  const running = [];
  try {
    for (const p of imported.pipelines) running.push(await runtime.deploy(p));
  } catch (err) {
    return { status: "fail", reason: `the imported pipeline does not deploy: ${(err as Error).message.replace(/\s*\n\s*/g, " ")}`, messages: 0, running: running.map((r) => r.name) };
  }
  const names = running.map((r) => r.name);
  try {
    await red.deploy(forNodeRed(flow, dir));
    const debugs = flow.filter((n) => n.type === "debug");
    const redCount = () => debugs.reduce((sum, d) => sum + readLines(fileOf(dir, `${d.id}-seen`)).length, 0);
    const tapped = (debug: string) => {
      const sink = imported.sinks.get(debug);
      const pipeline = sink && runtime.get(sink.pipeline);
      if (!sink || !pipeline) return [];
      return sink.edges.flatMap((e) => pipeline.taps.read(e).messages).sort((a, b) => a.ts - b.ts).map((m) => m.payload);
    };
    const evoCount = () => debugs.reduce((sum, d) => sum + tapped(d.id).length, 0);
    const quiet = 800 + Math.min(longestTimer(flow), 6000);
    const injects = flow.filter((n) => n.type === "inject").sort((a, b) => (a.y ?? 0) - (b.y ?? 0) || (a.x ?? 0) - (b.x ?? 0));
    for (const inject of injects) {
      const seenFile = fileOf(dir, `${inject.id}-seen`);
      const before = readLines(seenFile).length;
      const res = await fetch(`${red.url}/inject/${inject.id}`, { method: "POST" });
      if (!res.ok) throw new Error(`POST /inject/${inject.id}: ${res.status}`);
      await settle(() => readLines(seenFile).length, 300, 5000);
      const sent = readLines(seenFile).slice(before);
      const entry = imported.entries.get(inject.id);
      const entrypoint = entry && runtime.entrypoint(entry);
      // What the inject sent in Node-RED goes into its place in Evoflow (a failure is a dead letter, read below).
      // Not awaited: an invoke resolves when the path behind it is done, which a delay node holds back.
      if (entrypoint) for (const payload of sent) void entrypoint.invoke(payload).catch(() => {});
      await Promise.all([settle(redCount, quiet, 15_000), settle(evoCount, quiet, 15_000)]);
    }
    const differences: string[] = [];
    let messages = 0;
    const fromNodeRed: Record<string, unknown[]> = {};
    for (const d of debugs) {
      const fromRed = readLines(fileOf(dir, `${d.id}-seen`)).map((v) => normalize(v));
      const fromEvo = tapped(d.id).map((v) => normalize(asJson(v)));
      messages += fromRed.length;
      fromNodeRed[d.id] = fromRed;
      if (isDeepStrictEqual(fromRed, fromEvo)) continue;
      const i = Array.from({ length: Math.max(fromRed.length, fromEvo.length) }, (_, k) => k).find((k) => !isDeepStrictEqual(fromRed[k], fromEvo[k]))!;
      differences.push(`debug ${d.name ? `"${d.name}"` : d.id}: Node-RED ${fromRed.length} message(s), Evoflow ${fromEvo.length}; #${i + 1}: Node-RED ${short(fromRed[i])}, Evoflow ${short(fromEvo[i])}`);
    }
    const deadLetters = running.flatMap((r) => r.deadLetters.toArray().map((l) => l.reason));
    if (!differences.length) return { status: "pass", reason: messages ? `${messages} message(s) equal` : "no message reached a debug node in either", messages, fromNodeRed, running: names };
    const beside = besidePayload(flow);
    const why = [...differences, ...reliesOn(flow), ...(beside.length ? [`its injects set ${beside.join(", ")} beside the payload: an Evoflow edge carries the payload only`] : []), ...imported.notCarried.map((n) => `not carried: ${n}`), ...[...new Set(deadLetters)].slice(0, 2).map((r) => `dead letter: ${r}`)];
    return { status: "fail", reason: why.join("; "), messages, fromNodeRed, running: names };
  } catch (err) {
    return { status: "fail", reason: `the harness failed: ${(err as Error).message.split("\n")[0]}`, messages: 0, running: names };
  }
}
