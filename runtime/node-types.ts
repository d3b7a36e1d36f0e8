/**
 * The node type registry: every declaration from nodes/, by type name.
 * Validation, the engine, `evoflow nodes` and the editor all read it.
 */
import { z } from "zod";
import { allNodes } from "../nodes";
import { configPathFields } from "./confined-path";
import type { PathMeta } from "../sdk/config-path";
import { inputsOf, missingCapabilities, outputsOf, parseConfig, type Capability, type NodeDefinition } from "../sdk/contract";
import { describePortType, portTypeToJson } from "../sdk/ports";

export class NodeTypes {
  private readonly byType = new Map<string, NodeDefinition>();

  constructor(definitions: readonly NodeDefinition[]) {
    for (const def of definitions) {
      if (this.byType.has(def.type)) throw new Error(`node type ${def.type} is declared twice`);
      this.byType.set(def.type, def);
    }
  }

  get(type: string): NodeDefinition | undefined {
    return this.byType.get(type);
  }

  list(): NodeDefinition[] {
    return [...this.byType.values()].sort((a, b) => a.category.localeCompare(b.category) || a.type.localeCompare(b.type));
  }

  /**
   * The JSON description served to the editor and printed by `evoflow nodes --json`. Given the
   * capabilities a runtime grants, each type also says whether it is `locked` there and why.
   */
  describe(grants?: ReadonlySet<Capability>): NodeTypeDescription[] {
    return this.list().map((def) => {
      const defaults = parseConfig(def, {});
      const ports = (p: ReturnType<typeof inputsOf>) =>
        Object.fromEntries(Object.entries(p).map(([k, t]) => [k, { ...portTypeToJson(t), label: describePortType(t) }]));
      return {
        type: def.type,
        category: def.category,
        title: def.title,
        description: def.description,
        inputs: defaults === undefined ? {} : ports(inputsOf(def, defaults)),
        outputs: defaults === undefined ? {} : ports(outputsOf(def, defaults)),
        portsDependOnConfig: typeof def.inputs === "function" || typeof def.outputs === "function",
        acceptsSync: def.acceptsSync !== false,
        joinsSync: def.joinsSync === true,
        capabilities: [...(def.capabilities ?? [])],
        ...(grants && lockOf(def, grants)),
        paths: configPathFields(def.config).map((f) => ({ field: f.name, ...f.meta })),
        config: z.toJSONSchema(def.config, { io: "input", unrepresentable: "any" }),
        defaults: defaults ?? null,
      };
    });
  }
}

function lockOf(def: NodeDefinition, grants: ReadonlySet<Capability>): { locked: boolean; missing: Capability[] } {
  const missing = missingCapabilities(def, grants);
  return { locked: missing.length > 0, missing };
}

export interface NodeTypeDescription {
  type: string;
  category: string;
  title: string;
  description: string;
  inputs: Record<string, Record<string, unknown>>;
  outputs: Record<string, Record<string, unknown>>;
  portsDependOnConfig: boolean;
  acceptsSync: boolean;
  joinsSync: boolean;
  /** What the type needs beyond computing (node-contract.ts CAPABILITIES). */
  capabilities: Capability[];
  /** Present when described for a runtime: true when it lacks one of the capabilities (`missing`). */
  locked?: boolean;
  missing?: Capability[];
  /** Config fields naming files or folders in the pipeline's data folder. */
  paths: ({ field: string } & PathMeta)[];
  config: unknown;
  defaults: unknown;
}

export const nodeTypes = new NodeTypes(allNodes);
