/**
 * The one Node-RED runtime of this process (node-red 4.x, embedded as its docs describe:
 * `RED.init(settings)`, `RED.start()`), started by the first hosted node that deploys. It
 * serves nothing: no editor, no admin or node HTTP routes, no palette catalogue, no update
 * check, flows and credentials kept in memory only (a storage module of our own), so it never
 * writes a credential to disk and opens no connection of its own.
 *
 * Each hosted node is deployed as a flow tab of its own through the runtime API
 * (`runtime.flows.addFlow`, removed with `deleteFlow`): the Node-RED node itself, its inline
 * config nodes, and Node-RED's own `catch` and `status` nodes scoped to it, all wired to
 * `evoflow-bridge` nodes (BRIDGE_JS) that hand what arrives to the hosted node's handler here;
 * its `done()` comes from Node-RED's `onComplete` hook. Messages are delivered synchronously (`runtimeSyncDelivery`), so what a node
 * sends while handling a message reaches the bridge before its `done`.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

/** What Node-RED's nodes API gives of a live node that the bridge uses. */
export interface LiveNode {
  receive(msg: Record<string, unknown>): void;
  /** Node-RED's count of input handlers that take `done`: 0 for a node written before done existed. */
  _expectedDoneCount?: number;
}

export type BridgeRole = "out" | "error" | "complete" | "status";

export interface BridgeHandler {
  onBridge(role: BridgeRole, port: number, msg: Record<string, unknown>): void;
  onLog(level: "info" | "warn" | "error", text: string): void;
}

interface RedApi {
  init(settings: object): void;
  start(): Promise<void>;
  events: { once(event: string, listener: () => void): void };
  hooks: { add(name: string, hook: (event: { msg: Record<string, unknown>; node: { id: string }; error?: unknown }) => void): void };
  nodes: { getNode(id: string): LiveNode | null; getType(type: string): unknown };
  runtime: { flows: { addFlow(opts: { flow: object }): Promise<string>; deleteFlow(opts: { id: string }): Promise<void> } };
}

const require = createRequire(import.meta.url);

/**
 * The Node-RED side of the bridge: a node type wired after a hosted node's outputs and its
 * catch and status nodes, handing each message to Evoflow through the embedding's
 * settings (`evoflowBridge`). Written to a folder of its own when the runtime starts, as
 * Node-RED loads a type only from a .js file with its .html beside it (and so it is found the
 * same from the sources and from the bundle, scripts/build-runtime.mjs).
 */
const BRIDGE_JS = `module.exports = function (RED) {
  const deliver = RED.settings.evoflowBridge;
  function EvoflowBridge(config) {
    RED.nodes.createNode(this, config);
    this.on("input", (msg, _send, done) => {
      deliver(config, msg);
      done();
    });
  }
  RED.nodes.registerType("evoflow-bridge", EvoflowBridge);
};
`;
const BRIDGE_HTML = `<script type="text/javascript">RED.nodes.registerType("evoflow-bridge", { category: "config", defaults: {}, inputs: 1, outputs: 0 });</script>\n`;

/**
 * A status text as Node-RED's editor shows it: nodes give message keys (`node-red:common.status.connected`),
 * translated from the catalogs the runtime loaded with them.
 */
export function statusText(text: unknown): unknown {
  if (typeof text !== "string" || !/^[\w@/.-]+:[\w.-]+$/.test(text)) return text;
  const { i18n } = createRequire(require.resolve("node-red"))("@node-red/util") as { i18n: { _(key: string): string } };
  return i18n._(text);
}

/** Node-RED's own registry (the instance node-red itself uses): it loads a module installed after start. */
const nodeRedRegistry = () => createRequire(require.resolve("node-red"))("@node-red/registry") as { addModule(module: string): Promise<unknown> };

function bridgeDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "evoflow-node-red-bridge-"));
  writeFileSync(path.join(dir, "evoflow-bridge.cjs"), BRIDGE_JS);
  writeFileSync(path.join(dir, "evoflow-bridge.html"), BRIDGE_HTML);
  return dir;
}
/** Node-RED's numeric log levels (@node-red/util/lib/log.js). */
const LEVELS: Record<number, "info" | "warn" | "error"> = { 10: "error", 20: "error", 30: "warn", 40: "info" };

export class EmbeddedNodeRed {
  private readonly handlers = new Map<string, BridgeHandler>();
  /** Deploys one at a time: addFlow copies the whole active config, so two at once would lose one. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly red: RedApi) {}

  private static started?: Promise<EmbeddedNodeRed>;

  /**
   * The process's runtime, started on first use with `nodeModulesDir`'s Node-RED packages
   * (the data folder's `nodes/node_modules`, where `evoflow nodes install` puts them). Later
   * calls get the same runtime, whatever folder they name.
   */
  static get(userDir: string | undefined): Promise<EmbeddedNodeRed> {
    EmbeddedNodeRed.started ??= EmbeddedNodeRed.start(userDir ?? mkdtempSync(path.join(tmpdir(), "evoflow-node-red-")));
    return EmbeddedNodeRed.started;
  }

  private static async start(userDir: string): Promise<EmbeddedNodeRed> {
    const red = require("node-red") as RedApi;
    let embedded: EmbeddedNodeRed | undefined;
    const memory: Record<string, unknown> = { flows: [], credentials: {}, settings: {}, sessions: {} };
    const keep = (key: string) => async (value: unknown) => void (memory[key] = value);
    const read = (key: string) => async () => memory[key];
    red.init({
      userDir,
      nodesDir: [bridgeDir()],
      httpAdminRoot: false,
      httpNodeRoot: false,
      disableEditor: true,
      credentialSecret: false,
      runtimeSyncDelivery: true,
      editorTheme: { palette: { catalogues: [] }, tours: false },
      telemetry: { enabled: false },
      diagnostics: { enabled: false },
      externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
      functionExternalModules: false,
      storageModule: {
        init: async () => {},
        getFlows: read("flows"),
        saveFlows: keep("flows"),
        getCredentials: read("credentials"),
        // Credentials live in Node-RED's memory while their flow runs; nothing is written.
        saveCredentials: async () => {},
        getSettings: read("settings"),
        saveSettings: keep("settings"),
        getSessions: read("sessions"),
        saveSessions: keep("sessions"),
        getLibraryEntry: async () => [],
        saveLibraryEntry: async () => {},
      },
      logging: {
        console: { level: "off" },
        evoflow: {
          level: "info",
          metrics: false,
          audit: false,
          // A hosted node's own log lines go to its Evoflow log; the runtime's own are dropped.
          handler: () => (msg: { level: number; id?: string; msg?: unknown }) => {
            const level = LEVELS[msg.level];
            const handler = msg.id && embedded?.handlers.get(msg.id);
            if (level && handler) handler.onLog(level, msg.msg instanceof Error ? msg.msg.message : String(msg.msg));
          },
        },
      },
      // Read by the bridge node (BRIDGE_JS) through RED.settings.
      evoflowBridge: (config: { hosted: string; role: BridgeRole; port?: number }, msg: Record<string, unknown>) =>
        embedded?.handlers.get(config.hosted)?.onBridge(config.role, config.port ?? 0, msg),
    });
    // start() resolves before the (empty) flows are loaded; a flow added before that is lost.
    const flowsStarted = new Promise<void>((resolve) => red.events.once("flows:started", resolve));
    await red.start();
    await flowsStarted;
    embedded = new EmbeddedNodeRed(red);
    // A node's done() without an error: Node-RED's onComplete hook gives it without the copy of the
    // message a complete node would get (a failing done goes on to node.error, so to the catch node).
    red.hooks.add("onComplete.evoflow", ({ msg, node, error }) => {
      if (!error) embedded?.handlers.get(node.id)?.onBridge("complete", 0, msg);
    });
    return embedded;
  }

  /** Deploys `node` (a Node-RED node's properties, with `id` and `type`) and its config nodes as a tab; the tab's id. */
  deploy(label: string, module: string, node: Record<string, unknown>, configs: Record<string, unknown>[], outputs: number, handler: BridgeHandler): Promise<{ tab: string; live: LiveNode }> {
    const id = String(node.id);
    const bridge = (role: BridgeRole, port = 0) => ({ id: `${id}~${role}${port}`, type: "evoflow-bridge", hosted: id, role, port, x: 0, y: 0, wires: [] });
    const outs = Array.from({ length: outputs }, (_, i) => bridge("out", i));
    const watch = (type: string, role: BridgeRole) => [{ id: `${id}~${type}`, type, scope: [id], uncaught: false, x: 0, y: 0, wires: [[`${id}~${role}0`]] }, bridge(role)];
    const nodes = [{ ...node, x: 0, y: 0, wires: outs.map((b) => [b.id]) }, ...outs, ...watch("catch", "error"), ...watch("status", "status")];
    const run = this.queue.then(async () => {
      // A package installed (evoflow nodes install) after this runtime started: its registry loads it from disk.
      if (!this.red.nodes.getType(String(node.type))) await nodeRedRegistry().addModule(module);
      this.handlers.set(id, handler);
      try {
        // addFlow resolves before the new flow's nodes are made: they are when the flows have (re)started.
        const started = new Promise<void>((resolve) => this.red.events.once("flows:started", resolve));
        const tab = await this.red.runtime.flows.addFlow({ flow: { label, nodes, configs } });
        await started;
        const live = this.red.nodes.getNode(id);
        if (!live) throw new Error(`Node-RED did not start the node (is the type "${String(node.type)}" installed?)`);
        return { tab, live };
      } catch (err) {
        this.handlers.delete(id);
        throw err;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  remove(tab: string, nodeId: string): Promise<void> {
    const run = this.queue.then(async () => {
      await this.red.runtime.flows.deleteFlow({ id: tab });
      this.handlers.delete(nodeId);
    });
    this.queue = run.catch(() => {});
    return run;
  }
}
