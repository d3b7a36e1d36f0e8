/**
 * The node type registry: every declaration of the loaded node packages (runtime/packages/),
 * Evoflow's own among them, by type name. Validation, the engine, `evoflow nodes` and the
 * editor all read it.
 */
import { z } from "zod";
import type { TypeRequirement } from "./canonical";
import { loadNodePackages, type LoadOptions, type NodePackage } from "./packages/load";
import { configPathFields } from "./confined-path";
import type { PathMeta } from "../sdk/config-path";
import { capabilitiesOf, inputsOf, missingCapabilities, outputsOf, parseConfig, type Capability, type NodeDefinition, type NodeExample } from "../sdk/contract";
import { describePortType, portTypeToJson, type Ports } from "../sdk/ports";

/**
 * A type's ports as its config's defaults give them, each side undefined where it is computed
 * from a config that has required fields (no defaults): fixed ports show all the same.
 */
export function portsAtDefaults(def: NodeDefinition): { inputs?: Ports; outputs?: Ports } {
  const defaults = parseConfig(def, {});
  return {
    inputs: typeof def.inputs !== "function" || defaults !== undefined ? inputsOf(def, defaults) : undefined,
    outputs: typeof def.outputs !== "function" || defaults !== undefined ? outputsOf(def, defaults) : undefined,
  };
}

export class NodeTypes {
  private readonly byType = new Map<string, NodeDefinition>();
  private readonly packageOfType = new Map<string, NodePackage>();

  /**
   * `packages`: where the definitions came from (none for types made up in code, as tests do);
   * `loadedWith`: where they were looked for, so a runtime can look again after an install.
   */
  constructor(
    definitions: readonly NodeDefinition[],
    readonly packages: readonly NodePackage[] = [],
    readonly loadedWith?: LoadOptions,
  ) {
    for (const def of definitions) {
      if (this.byType.has(def.type)) throw new Error(`node type ${def.type} is declared twice`);
      this.byType.set(def.type, def);
    }
    for (const pkg of packages) for (const type of pkg.types) this.packageOfType.set(type, pkg);
  }

  /** The package a type came from. */
  packageOf(type: string): NodePackage | undefined {
    return this.packageOfType.get(type);
  }

  /** The package giving a type and the range a pipeline using it lists in `requires` (fmt, runtime/canonical.ts fillRequires). */
  requirementOf(type: string): TypeRequirement | undefined {
    const pkg = this.packageOf(type);
    return pkg && { package: pkg.name, range: requiredRange(pkg) };
  }

  /** The packages loaded here that `requires` lists when used: all but Evoflow's own. */
  requirablePackages(): Set<string> {
    return new Set(this.packages.filter((p) => requiredRange(p) !== undefined).map((p) => p.name));
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
      const shown = portsAtDefaults(def);
      const ports = (p: Ports | undefined) =>
        Object.fromEntries(Object.entries(p ?? {}).map(([k, t]) => [k, { ...portTypeToJson(t), label: describePortType(t) }]));
      return {
        type: def.type,
        ...(this.packageOf(def.type) && { package: this.packageOf(def.type)!.name }),
        ...(this.requirementOf(def.type)?.range && { requires: this.requirementOf(def.type)!.range }),
        category: def.category,
        ...(def.color && { color: def.color }),
        ...(def.icon && { icon: def.icon }),
        title: def.title,
        description: def.description,
        ...(def.example && { example: def.example }),
        inputs: ports(shown.inputs),
        outputs: ports(shown.outputs),
        portsDependOnConfig: typeof def.inputs === "function" || typeof def.outputs === "function",
        acceptsSync: def.acceptsSync !== false,
        joinsSync: def.joinsSync === true,
        capabilities: [...capabilitiesOf(def, defaults)],
        ...(grants && lockOf(def, grants, defaults)),
        paths: configPathFields(def.config).map((f) => ({ field: f.name, ...f.meta })),
        config: z.toJSONSchema(def.config, { io: "input", unrepresentable: "any" }),
        defaults: defaults ?? null,
      };
    });
  }
}

function lockOf(def: NodeDefinition, grants: ReadonlySet<Capability>, config: unknown): { locked: boolean; missing: Capability[] } {
  const missing = missingCapabilities(def, grants, config);
  return { locked: missing.length > 0, missing };
}

export interface NodeTypeDescription {
  type: string;
  /** The node package giving the type. */
  package?: string;
  /** The range of that package a pipeline using the type lists in `requires` (absent for Evoflow's own). */
  requires?: string;
  category: string;
  /** The declaration's look (sdk/contract.ts NodeLook): the editor falls back to its category's. */
  color?: string;
  icon?: string;
  title: string;
  description: string;
  example?: NodeExample;
  inputs: Record<string, Record<string, unknown>>;
  outputs: Record<string, Record<string, unknown>>;
  portsDependOnConfig: boolean;
  acceptsSync: boolean;
  joinsSync: boolean;
  /** What the type needs beyond computing (sdk/contract.ts CAPABILITIES). */
  capabilities: Capability[];
  /** Present when described for a runtime: true when it lacks one of the capabilities (`missing`). */
  locked?: boolean;
  missing?: Capability[];
  /** Config fields naming files or folders in the pipeline's data folder. */
  paths: ({ field: string } & PathMeta)[];
  config: unknown;
  defaults: unknown;
}

/** The node types of the built-in package and of the packages `options` finds (runtime/packages/discover.ts). */
export async function loadNodeTypes(options: LoadOptions = {}): Promise<NodeTypes> {
  const { packages, definitions } = await loadNodePackages(options);
  return new NodeTypes(definitions, packages, options);
}

/** Evoflow's own node types, loaded from its package like anyone's: the default of a Runtime and offline commands. */
export const nodeTypes = await loadNodeTypes();

/** What `requires` lists for a package a pipeline uses: a caret range of the version installed; nothing for Evoflow's own. */
export function requiredRange(pkg: NodePackage): string | undefined {
  return pkg.source === "builtin" ? undefined : `^${pkg.version}`;
}
