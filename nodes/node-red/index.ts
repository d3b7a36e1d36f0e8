/**
 * The node types `node-red.<type>`: one for every Node-RED node type installed (the core nodes
 * of @node-red/nodes and Node-RED packages in the data folder's `nodes/node_modules`, where
 * `evoflow nodes install` puts them), known only when the package loads: so this module exports
 * a function of the load (SDK 1.5). Config node types (mqtt-broker, tls-config) are no node of
 * their own: a node referring to one holds its properties inline.
 */
import path from "node:path";
import type { NodeLoadContext } from "../../sdk";
import { nodeRedTypes } from "./catalog";
import { hostedDefinition } from "./hosted";

export default function nodeRedNodes(load: NodeLoadContext) {
  const nodesDir = load.dataDir && path.join(load.dataDir, "nodes");
  const types = nodeRedTypes(nodesDir ? [path.join(nodesDir, "node_modules")] : []);
  const configTypes = new Map(types.filter((t) => t.category === "config").map((t) => [t.type, t]));
  // Node-RED's user folder is the data folder's nodes/: it finds the installed packages in its node_modules.
  return types.filter((t) => t.category !== "config").map((t) => hostedDefinition(t, configTypes, nodesDir));
}
