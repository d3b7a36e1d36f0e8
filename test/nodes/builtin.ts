/**
 * Evoflow's own node types by name, as the runtime loads them from the built-in package: tests
 * of one node type take its declaration from here rather than from the file that declares it.
 */
import { nodeTypes } from "../../runtime/node-types";
import type { NodeDefinition } from "../../sdk";

export function builtin(type: string): NodeDefinition {
  const def = nodeTypes.get(type);
  if (!def) throw new Error(`the built-in package has no node type "${type}"`);
  return def;
}
