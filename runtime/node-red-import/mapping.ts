/**
 * Which Evoflow node stands for a Node-RED node, where one does exactly. An Evoflow message
 * carries one payload: Node-RED's `msg.payload` is it, and the other `msg` properties (topic,
 * headers, …) have no place, so a rule or condition on them is not carried.
 */
import type { FlowNode } from "./flows";
import { onPayload } from "./jsonata";

export type Mapping =
  | { kind: "node"; type: string; config: Record<string, unknown>; ports: string[]; notes: string[] }
  /** http in/out, debug, comment: no node in Evoflow (the reason says what stands for it). */
  | { kind: "dropped"; why: string }
  | { kind: "not carried"; why: string };

const notCarried = (why: string): Mapping => ({ kind: "not carried", why });
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The payload in a JSONata expression made of several change rules. */
const PAYLOAD_VAR = "$nodeRedPayload";

/** `payload.a.b` → ["a", "b"]; `payload` → []; anything else (other properties, brackets) → undefined. */
function payloadPath(property: unknown): string[] | undefined {
  if (typeof property !== "string") return undefined;
  const parts = property.split(".");
  return parts[0] === "payload" && parts.slice(1).every((p) => IDENT.test(p)) ? parts.slice(1) : undefined;
}

/** A typed value as Node-RED's change and switch nodes read it, when it is a constant. */
function constant(value: unknown, type: unknown): { value: unknown } | { why: string } {
  const text = String(value ?? "");
  switch (type ?? "str") {
    case "str":
      return { value: text };
    case "num": {
      const n = Number(text);
      return Number.isFinite(n) ? { value: n } : { why: `"${text}" is not a number` };
    }
    case "bool":
      return { value: /^true$/i.test(text) };
    case "json":
      try {
        return { value: JSON.parse(text) };
      } catch {
        return { why: "its JSON value does not parse" };
      }
    default:
      return { why: `a value of type "${String(type)}" (only str, num, bool and json constants are carried)` };
  }
}

/** The same path set the way transform.set does it (objects along the way copied). */
function setAt(base: unknown, path: string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const obj = typeof base === "object" && base !== null && !Array.isArray(base) ? (base as Record<string, unknown>) : {};
  return { ...obj, [path[0]]: setAt(obj[path[0]], path.slice(1), value) };
}

function change(n: FlowNode): Mapping {
  const rules = Array.isArray(n.rules) ? (n.rules as Record<string, unknown>[]) : [];
  const notes: string[] = [];
  const set: [string[], unknown][] = [];
  /** Whole-payload values from the first JSONata rule on, as JSONata expressions of PAYLOAD_VAR. */
  const computed: string[] = [];
  for (const [i, rule] of rules.entries()) {
    const where = `rule ${i + 1} (${String(rule.t)} ${String(rule.pt ?? "msg")}.${String(rule.p)})`;
    if ((rule.pt ?? "msg") !== "msg") return notCarried(`${where}: ${String(rule.pt)} context has no equivalent`);
    const path = payloadPath(rule.p);
    if (!path) {
      // Only the payload travels between Evoflow nodes: a property beside it has no reader.
      if (typeof rule.p === "string" && IDENT.test(rule.p) && rule.t === "set") {
        notes.push(`${where} left out: only msg.payload travels between Evoflow nodes`);
        continue;
      }
      return notCarried(`${where}: only rules on msg.payload (as dotted names) are carried`);
    }
    if (rule.t !== "set") return notCarried(`${where}: only "set" rules are carried (transform.set sets fields)`);
    if (rule.tot === "jsonata") {
      if (path.length) return notCarried(`${where}: a JSONata value is carried for the whole msg.payload only`);
      const e = onPayload(String(rule.to ?? ""), PAYLOAD_VAR);
      if ("why" in e) return notCarried(`${where}: ${e.why}`);
      computed.push(e.expression);
      continue;
    }
    const to = constant(rule.to, rule.tot);
    if ("why" in to) return notCarried(`${where}: ${to.why}`);
    if (computed.length && path.length) return notCarried(`${where}: a field set after a JSONata value is not carried`);
    if (computed.length) computed.push(JSON.stringify(to.value));
    else set.push([path, to.value]);
  }
  if (computed.length) {
    // Each whole-payload rule in turn, as Node-RED applies them: constants before the first JSONata one fold into its start.
    const whole = set.map(([p]) => p.length).lastIndexOf(0);
    if (whole < 0 && set.length) return notCarried("it sets fields, then the whole payload by JSONata: not carried as one expression");
    const start = whole < 0 ? "$" : JSON.stringify(set.slice(whole).reduce<unknown>((v, [p, c]) => setAt(v, p, c), undefined));
    const steps = [start, ...computed].map((e) => `${PAYLOAD_VAR} := ${e}`);
    return { kind: "node", type: "transform.jsonata", config: { expression: `(${steps.join("; ")}; ${PAYLOAD_VAR})` }, ports: ["out"], notes: [...notes, "its JSONata reads the payload where Node-RED's read msg.payload"] };
  }
  const whole = set.map(([p]) => p.length).lastIndexOf(0);
  if (whole >= 0) {
    // The whole payload replaced by a constant: the result no longer depends on the message.
    let value: unknown;
    for (const [path, v] of set.slice(whole)) value = setAt(value, path, v);
    return { kind: "node", type: "transform.jsonata", config: { expression: JSON.stringify(value) }, ports: ["out"], notes: [...notes, "sets the whole payload to a constant: a JSONata literal"] };
  }
  // Found by the differential test against real Node-RED (test/integrations/node-red-import-differential.test.ts).
  if (set.some(([p]) => p.length > 1))
    notes.push("where a field along a dotted path holds a string, number or null, Node-RED skips that rule; transform.set replaces the field by an object");
  notes.push("a payload that is not an object (Node-RED skips the rules) goes to the dead letters: transform.set takes records");
  return { kind: "node", type: "transform.set", config: { set: Object.fromEntries(set.map(([p, v]) => [p.join("."), v])) }, ports: ["out"], notes };
}

/** A JSONata condition on the payload for one switch rule, or why there is none. */
function condition(rule: Record<string, unknown>, subject: string): { when: string } | { why: string } {
  const v = constant(rule.v, rule.vt);
  const typed = (type: string, expr: string) => `$type(${subject}) = "${type}" and ${expr}`;
  const lit = (c: { value: unknown }) => JSON.stringify(c.value);
  if (rule.t === "jsonata_exp") {
    // Node-RED's rule matches only a result that is exactly true.
    const e = onPayload(String(rule.v ?? ""), "$");
    return "why" in e ? e : { when: `(${e.expression}) = true` };
  }
  switch (rule.t) {
    case "true":
    case "false":
      return { when: `${subject} = ${rule.t}` };
    case "null":
      return { when: `$not($exists(${subject})) or ${subject} = null` };
    case "nnull":
      return { when: `$exists(${subject}) and ${subject} != null` };
    case "istype": {
      const t = String(rule.v);
      if (t === "undefined") return { when: `$not($exists(${subject}))` };
      return ["string", "number", "boolean", "array", "object", "null"].includes(t) ? { when: `$type(${subject}) = "${t}"` } : { why: `type ${t} has no JSONata equivalent` };
    }
  }
  if ("why" in v) return v;
  switch (rule.t) {
    case "eq":
    case "neq": {
      // Node-RED compares with == : on a value of another type it coerces; here it never matches.
      const type = typeof v.value === "number" ? "number" : typeof v.value === "string" ? "string" : undefined;
      const expr = `${subject} ${rule.t === "eq" ? "=" : "!="} ${lit(v)}`;
      return { when: type && rule.t === "eq" ? typed(type, expr) : expr };
    }
    case "lt":
    case "lte":
    case "gt":
    case "gte": {
      const op = { lt: "<", lte: "<=", gt: ">", gte: ">=" }[rule.t];
      const type = typeof v.value === "number" ? "number" : typeof v.value === "string" ? "string" : undefined;
      return type ? { when: typed(type, `${subject} ${op} ${lit(v)}`) } : { why: "compares with a value that is neither a number nor a string" };
    }
    case "btwn": {
      const v2 = constant(rule.v2, rule.v2t);
      if ("why" in v2 || typeof v.value !== "number" || typeof v2.value !== "number") return { why: "between two values that are not both numbers" };
      const [a, b] = [lit(v), lit(v2)];
      return { when: typed("number", `((${subject} >= ${a} and ${subject} <= ${b}) or (${subject} <= ${a} and ${subject} >= ${b}))`) };
    }
    case "cont":
      return { when: typed("string", `$contains(${subject}, ${JSON.stringify(String(v.value))})`) };
    case "regex":
      return { when: typed("string", `$contains(${subject}, /${String(v.value).replace(/\//g, "\\/")}/${rule.case ? "i" : ""})`) };
    default:
      return { why: `the "${String(rule.t)}" test has no carried equivalent` };
  }
}

function switchNode(n: FlowNode): Mapping {
  if (n.repair === true) return notCarried("it repairs message sequences (msg.parts): Evoflow messages have no sequence parts");
  let subject: string;
  if (n.propertyType === "jsonata") {
    const e = onPayload(String(n.property ?? ""), "$");
    if ("why" in e) return notCarried(`the value it tests: ${e.why}`);
    subject = `(${e.expression})`;
  } else {
    if ((n.propertyType ?? "msg") !== "msg") return notCarried(`it tests ${String(n.propertyType)} "${String(n.property)}": only msg.payload is carried`);
    const path = payloadPath(n.property ?? "payload");
    if (!path) return notCarried(`it tests msg.${String(n.property)}: only msg.payload travels between Evoflow nodes`);
    subject = path.length ? path.join(".") : "$";
  }
  const rules = Array.isArray(n.rules) ? (n.rules as Record<string, unknown>[]) : [];
  const ports = rules.map((_r, i) => `out${i + 1}`);
  const elseAt = rules.findIndex((r) => r.t === "else");
  if (elseAt >= 0 && elseAt !== rules.length - 1) return notCarried(`rule ${elseAt + 1} is "otherwise" but not the last rule`);
  const out: { when: string; port: string }[] = [];
  for (const [i, rule] of rules.entries()) {
    if (i === elseAt) continue;
    const c = condition(rule, subject);
    if ("why" in c) return notCarried(`rule ${i + 1}: ${c.why}`);
    out.push({ when: c.when, port: ports[i] });
  }
  const notes = ["tests compare types strictly: where Node-RED's == or < would coerce a value of another type, no rule matches"];
  if (elseAt < 0) notes.push(`a message no rule matches leaves on "unmatched", which has no edge (Node-RED drops it; on the request path it is the answer)`);
  return {
    kind: "node",
    type: "control.switch",
    config: { rules: out, otherwise: elseAt >= 0 ? ports[elseAt] : "unmatched", mode: String(n.checkall) === "false" ? "first" : "all" },
    ports,
    notes,
  };
}

/** The entry point name an `http in` URL becomes: `/hello/world` → `hello-world`. */
export function entrypointName(url: unknown): string | undefined {
  const name = String(url ?? "").replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^[^A-Za-z]+|-+$/g, "");
  return name ? name.slice(0, 128) : undefined;
}

function httpIn(n: FlowNode): Mapping {
  const url = String(n.url ?? "");
  if (url.includes(":") || url.includes("*")) return notCarried(`its URL ${url} has parameters: io.http entry points are fixed names`);
  if (n.upload === true) return notCarried("it accepts file uploads (multipart): io.http takes JSON bodies");
  const name = entrypointName(url);
  const notes = [`answers POST /pipelines/${name ?? "<pipeline>"} with a JSON body`];
  if (String(n.method ?? "get").toLowerCase() !== "post") notes.push(`Node-RED answered ${String(n.method ?? "get").toUpperCase()} ${url}: the request's query is not carried, only a JSON body`);
  return { kind: "node", type: "io.http", config: name ? { name } : {}, ports: ["out"], notes };
}

export interface MappingContext {
  /** Whether the runtime has this node type (transform.function may not be installed). */
  hasType(type: string): boolean;
  /** For a type of this runtime: its config's field names, and its output ports for a config (context.ts). */
  typeShape?(type: string): { fields: string[]; outputs(config: Record<string, unknown>): string[] } | undefined;
  /** A config node of the flows (mqtt-broker, …) by id, to inline into the hosted nodes referring to it. */
  configNode?(id: string): FlowNode | undefined;
}

/** The Evoflow type hosting a Node-RED type (nodes/node-red/hosted.ts): `mqtt in` → `node-red.mqtt-in`. */
export const hostedType = (nodeRedType: string) => `node-red.${nodeRedType.replace(/\s+/g, "-")}`;
/** What every flows.json node carries besides its own properties. */
const FLOW_KEYS = new Set(["id", "type", "z", "x", "y", "w", "h", "g", "wires", "credentials", "l", "d"]);

/**
 * The Node-RED node hosted as itself, when the runtime has its type: its own properties as the
 * config, a config node it refers to inlined. flows.json holds no credentials (Node-RED keeps them
 * beside it, encrypted): the note says where they go.
 */
function hosted(n: FlowNode, ctx: MappingContext, why: string): Mapping {
  const type = hostedType(n.type);
  const shape = ctx.typeShape?.(type);
  if (!shape) return notCarried(`${why}; no installed Node-RED package gives "${n.type}" to host (evoflow nodes install <package>)`);
  const config: Record<string, unknown> = {};
  const notes = [`hosted on the embedded Node-RED runtime (needs the exec capability)${why ? `: ${why}` : ""}`];
  for (const [key, value] of Object.entries(n)) {
    if (FLOW_KEYS.has(key) || !shape.fields.includes(key)) continue;
    const configNode = typeof value === "string" ? ctx.configNode?.(value) : undefined;
    if (configNode) {
      config[key] = Object.fromEntries(Object.entries(configNode).filter(([k]) => !FLOW_KEYS.has(k)));
      notes.push(`its ${configNode.type} config node (${value}) inlined as ${key}`);
    } else config[key] = value;
  }
  if (shape.fields.includes("credentials") || Object.values(config).some((v) => typeof v === "object" && v !== null && !Array.isArray(v)))
    notes.push('credentials are not in flows.json: give any it needs as "credentials": { NAME: "${secret:NAME}" } (evoflow secrets set NAME)');
  return { kind: "node", type, config, ports: shape.outputs(config), notes };
}

/** The native mapping, or the node hosted where that is not carried. */
function nativeOrHosted(n: FlowNode, ctx: MappingContext, native: Mapping): Mapping {
  return native.kind === "not carried" ? hosted(n, ctx, native.why) : native;
}

export function mapNode(n: FlowNode, ctx: MappingContext): Mapping {
  switch (n.type) {
    case "http in":
      return httpIn(n);
    case "http response": {
      const extra = (n.statusCode ? ` its status ${String(n.statusCode)} and` : "") + (n.headers && Object.keys(n.headers as object).length ? " its headers and" : "");
      return { kind: "dropped", why: `the end of the request path is io.http's answer (200, JSON)${extra ? `;${extra.replace(/ and$/, "")} are not carried` : ""}` };
    }
    case "debug":
      return { kind: "dropped", why: "every Evoflow edge is tapped: `evoflow tap <pipeline> <edge>` or the editor's tap panel shows what it showed" };
    case "comment":
    case "group":
      return { kind: "dropped", why: `a ${n.type}: nothing runs` };
    case "change":
      return nativeOrHosted(n, ctx, change(n));
    case "switch":
      return nativeOrHosted(n, ctx, switchNode(n));
    case "inject":
      return hosted(n, ctx, "an inject fires on a timer or once at deploy; no native Evoflow source does (POST to an io.http entry point instead)");
    case "function":
      return hosted(n, ctx, "Node-RED's msg, node and context API is not carried into transform.function");
    case "link call":
      return notCarried("a link call waits for a link out to return: no equivalent yet");
    default:
      return hosted(n, ctx, `no native Evoflow node does what "${n.type}" does`);
  }
}
