/**
 * `node-red.<type>`: a Node-RED node run by the embedded Node-RED runtime (embedded.ts) as a
 * node of a pipeline. Its config is the Node-RED node's own properties (its `defaults`); a
 * property referring to a config node (`broker` of `mqtt in`) holds that config node's
 * properties inline; credentials (its own or a config node's) are `${secret:NAME}` references
 * in `credentials`, resolved when it deploys, so the pipeline JSON and its taps never hold them.
 *
 * An Evoflow message's payload is `msg.payload` in, and each `msg.payload` the node sends is
 * emitted on the port of its output (`out`, or `out1`…`outN`). A message counts as handled when
 * the node calls `done()`; `done(err)`, a throw or `node.error(err, msg)` sends it to the dead
 * letters with the error's text. `node.status(…)` is the node's live status in the editor.
 * It needs `exec`: a Node-RED node runs whatever code its package holds.
 */
import { defineNode, parseSecretRef, port, z, type Emit, type Message, type NodeDefinition, type Ports } from "../../sdk";
import type { NodeRedType } from "./catalog";
import { EmbeddedNodeRed, statusText, type BridgeRole, type LiveNode } from "./embedded";

/** The Evoflow type of a Node-RED type: spaces as in Node-RED's own credential keys (`mqtt in` → `node-red.mqtt-in`). */
export const hostedType = (nodeRedType: string) => `node-red.${nodeRedType.replace(/\s+/g, "-")}`;

export const outputPort = (i: number, count: number) => (count === 1 ? "out" : `out${i + 1}`);

const credentialRefs = z.record(z.string(), z.string()).superRefine((creds, ctx) => {
  for (const [name, text] of Object.entries(creds)) {
    const ref = parseSecretRef(text);
    if ("problem" in ref) ctx.addIssue({ code: "custom", path: [name], message: ref.problem });
  }
});

/** A config node given inline: its properties, with its credentials as secret references. */
const inlineConfigNode = z.looseObject({ credentials: credentialRefs.optional() });

function fieldOf(property: NodeRedType["defaults"][string], configTypes: Map<string, NodeRedType>): z.ZodType {
  if (property.type && configTypes.has(property.type)) {
    // "" is Node-RED's own "none chosen" (an http request without tls-config).
    const schema = z.union([z.literal(""), inlineConfigNode]).describe(`The ${property.type} config node's properties, inline (credentials as \${secret:NAME})`);
    return property.required ? schema : schema.optional();
  }
  const value = property.value;
  // Node-RED's editor keeps numbers typed into a field as strings, and many a field defaulting to "" is later a
  // boolean or a number (csv's hdrin): each is taken as Node-RED's nodes take it.
  const scalar = z.union([z.string(), z.number(), z.boolean()]);
  const base = typeof value === "boolean" ? z.union([z.boolean(), z.string()]) : typeof value === "number" ? z.union([z.number(), z.string()]) : typeof value === "string" ? scalar : z.unknown();
  return value === undefined ? base.optional() : (base as z.ZodUnknown).default(value);
}

function countOf(configured: unknown, declared: number): number {
  const n = Number(configured);
  return Number.isInteger(n) && n >= 0 && n <= 64 ? n : declared;
}

export function hostedDefinition(t: NodeRedType, configTypes: Map<string, NodeRedType>, userDir: string | undefined): NodeDefinition {
  const fields = Object.fromEntries(Object.entries(t.defaults).map(([name, p]) => [name, fieldOf(p, configTypes)]));
  const credentialNames = Object.keys(t.credentials);
  const config = z.strictObject({
    ...fields,
    ...(credentialNames.length && { credentials: credentialRefs.optional().describe(`Its credentials (${credentialNames.join(", ")}) as \${secret:NAME} references`) }),
  });
  type Config = Record<string, unknown>;
  const inputs = (c: Config): Ports => (countOf(c.inputs, t.inputs) > 0 ? { in: port.any() } : {});
  const outputs = (c: Config): Ports => {
    const n = countOf(c.outputs, t.outputs);
    return Object.fromEntries(Array.from({ length: n }, (_, i) => [outputPort(i, n), port.any()]));
  };
  return defineNode({
    type: hostedType(t.type),
    category: "node-red",
    ...(t.color && { color: t.color }),
    title: `${t.type} (Node-RED)`,
    description: `Node-RED's \`${t.type}\` node from ${t.module}, run by the real Node-RED runtime embedded here. ${t.help}`.trim(),
    capabilities: ["exec"],
    inputs,
    outputs,
    config,
    create: (ctx, cfg: Config) => {
      const outputCount = countOf(cfg.outputs, t.outputs);
      const pending = new Map<string, { emit: Emit; emits: Promise<unknown>[]; resolve: () => void; reject: (err: Error) => void }>();
      let startEmit: Emit | undefined;
      let deployed: { tab: string; live: LiveNode } | undefined;
      let shown: Record<string, unknown> = {};
      let received = 0;
      let sent = 0;
      let failed = 0;
      // Some nodes delete msg._msgid from the message they handle (split does): its done is found by the object.
      const delivered = new WeakMap<object, string>();
      const idOf = (msg: Record<string, unknown>) => (msg._msgid !== undefined ? String(msg._msgid) : delivered.get(msg));
      const settle = (msgid: unknown, error?: string) => {
        const p = pending.get(String(msgid));
        if (!p) return;
        pending.delete(String(msgid));
        if (error !== undefined) p.reject(new Error(`Node-RED ${t.type}: ${error}`));
        else Promise.all(p.emits).then(p.resolve, p.reject);
      };
      const onBridge = (role: BridgeRole, outPort: number, msg: Record<string, unknown>) => {
        if (role === "out") {
          sent++;
          const p = pending.get(String(msg._msgid));
          const emit = p?.emit ?? startEmit;
          const emitted = emit?.(outputPort(outPort, outputCount), msg.payload);
          if (p && emitted) p.emits.push(emitted);
        } else if (role === "error") {
          failed++;
          const error = msg.error as { message?: unknown } | undefined;
          settle(idOf(msg), String(error?.message ?? "failed"));
        } else if (role === "complete") settle(idOf(msg));
        else {
          const { source: _source, ...status } = (msg.status ?? {}) as Record<string, unknown>;
          shown = { ...status, ...(status.text !== undefined && { text: statusText(status.text) }) };
        }
      };
      return {
        async start(emit) {
          startEmit = emit;
          const { node, configs } = await nodeRedNode(t, cfg, `${ctx.pipeline}~${ctx.nodeId}`, configTypes, (ref) => ctx.secret(ref));
          const red = await EmbeddedNodeRed.get(userDir);
          deployed = await red.deploy(`${ctx.pipeline}/${ctx.nodeId}`, t.module, node, configs, outputCount, { onBridge, onLog: (level, text) => ctx.log(level, text) });
        },
        onMessage(_port, message: Message, emit: Emit) {
          received++;
          return new Promise<void>((resolve, reject) => {
            pending.set(message.id, { emit, emits: [], resolve, reject });
            // Node-RED nodes change msg.payload in place: the envelope's payload (kept by taps and traces) must not change.
            const msg = { _msgid: message.id, payload: structuredClone(message.payload) };
            delivered.set(msg, message.id);
            deployed!.live.receive(msg);
            // A node written before Node-RED had `done` never reports one: it is handled once its handler returned.
            if (deployed!.live._expectedDoneCount === 0) settle(message.id);
          });
        },
        async stop() {
          if (deployed) await (await EmbeddedNodeRed.get(userDir)).remove(deployed.tab, `${ctx.pipeline}~${ctx.nodeId}`);
          for (const id of [...pending.keys()]) settle(id, "the pipeline stopped before the node was done");
        },
        status: () => ({ ...shown, received, sent, failed }),
      };
    },
  });
}

/** The Node-RED node (and its inline config nodes) for a config, credentials resolved. */
async function nodeRedNode(t: NodeRedType, cfg: Record<string, unknown>, id: string, configTypes: Map<string, NodeRedType>, secret: (ref: string) => Promise<string>) {
  const resolve = async (refs: unknown) =>
    refs ? Object.fromEntries(await Promise.all(Object.entries(refs as Record<string, string>).map(async ([k, ref]) => [k, await secret(ref)] as const))) : undefined;
  const configs: Record<string, unknown>[] = [];
  const { credentials, ...props } = cfg;
  const node: Record<string, unknown> = { ...props, id, type: t.type, name: props.name ?? "" };
  for (const [name, property] of Object.entries(t.defaults)) {
    const inline = cfg[name];
    if (!property.type || !configTypes.has(property.type) || typeof inline !== "object" || inline === null) continue;
    const { credentials: configCredentials, ...configProps } = inline as Record<string, unknown>;
    const configId = `${id}~${name}`;
    const defaults = Object.fromEntries(Object.entries(configTypes.get(property.type)!.defaults).flatMap(([k, p]) => (p.value === undefined ? [] : [[k, p.value]])));
    configs.push({ ...defaults, ...configProps, id: configId, type: property.type, credentials: await resolve(configCredentials) });
    node[name] = configId;
  }
  if (credentials) node.credentials = await resolve(credentials);
  return { node, configs };
}
