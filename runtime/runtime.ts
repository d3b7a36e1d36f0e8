/**
 * A runtime hosts deployed pipelines on one transport, with the shared services
 * nodes ask for (model registry, agents, …). The HTTP API and the CLI drive it;
 * it knows nothing of HTTP.
 */
import { ConfinedPathError, configFieldValues, configPathValues, pipelineDataDir, resolveConfined } from "./confined-path";
import { isSecretField } from "../sdk/config-secret";
import { SecretError, SecretStore } from "./secrets";
import { NodeStartError, runPipeline, type RunningPipeline } from "./engine/engine";
import { Metrics } from "./metrics";
import type { CostModel } from "../sdk/cost";
import { missingCapabilities, missingServices, type Capability, type Entrypoint } from "../sdk/contract";
import { nodeTypes as defaultNodeTypes, loadNodeTypes, type NodeTypeDescription, type NodeTypes } from "./node-types";
import type { Pipeline } from "./schema";
import type { DriftAlarm } from "../sdk/api-types";
import { MemoryTransport } from "./transport/memory";
import { userCodeService } from "./user-code/service";
import { userCode } from "../sdk/user-code";
import type { Transport } from "./transport/transport";
import { entrypointClaims, jsonPath, validatePipeline, type CompiledPipeline, type Problem, type ValidationResult } from "./validate";

/** What a runtime grants when told nothing: files and network, but no running of commands. */
export const DEFAULT_GRANTS: readonly Capability[] = ["fs-write", "network"];

export interface RuntimeOptions {
  transport?: Transport;
  nodeTypes?: NodeTypes;
  dataDir?: string;
  services?: Record<string, unknown>;
  /** Nodes of each pipeline this process runs; all when absent (see the nats worker). */
  localNodes?: (pipeline: string, definition: Pipeline) => ReadonlySet<string> | undefined;
  /** Messages kept for `evoflow trace` per pipeline (in memory); 0 turns capture off. */
  traceCapacity?: number;
  log?: (level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
  /** Capabilities deployed nodes may use (see CAPABILITIES); DEFAULT_GRANTS when absent. */
  grants?: readonly Capability[];
  /** Prices and energy of CPU-seconds in /metrics (the settings file's `cost`); defaults, energy "auto", when absent. */
  cost?: CostModel;
}

export class PipelineInvalidError extends Error {
  constructor(readonly problems: Problem[]) {
    super(`pipeline is not valid:\n${problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`);
  }
}

/** A valid pipeline one of whose nodes could not start (a model the registry lacks…): nothing of it runs. */
export class PipelineStartError extends PipelineInvalidError {
  constructor(problems: Problem[]) {
    super(problems);
    this.message = `pipeline could not start:\n${problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`;
  }
}

export class Runtime {
  readonly transport: Transport;
  private types: NodeTypes;
  readonly metrics: Metrics;
  readonly services: Record<string, unknown>;
  readonly dataDir: string;
  /** The data folder's secrets (`${secret:NAME}` in configs). */
  readonly secrets: SecretStore;
  readonly grants: ReadonlySet<Capability>;
  private readonly pipelines = new Map<string, RunningPipeline>();
  private readonly deploying = new Set<CompiledPipeline>();

  constructor(private readonly options: RuntimeOptions = {}) {
    this.transport = options.transport ?? new MemoryTransport();
    this.metrics = new Metrics(options.cost);
    this.types = options.nodeTypes ?? defaultNodeTypes;
    // userCode, `metrics` and `cost` are every runtime's own: user code runs under the runtime's
    // limits, counters nodes add go to this runtime's /metrics, and `cost` holds the settings and
    // energy rate that price CPU-seconds (the CL gate uses them).
    this.services = { [userCode.name]: userCodeService, ...options.services, metrics: this.metrics.service, cost: this.metrics.cost };
    this.dataDir = options.dataDir ?? ".evoflow";
    this.secrets = new SecretStore(this.dataDir);
    this.grants = new Set(options.grants ?? DEFAULT_GRANTS);
  }

  /** The registry deploys are validated against; replaced by `reloadNodeTypes`. */
  get nodeTypes(): NodeTypes {
    return this.types;
  }

  /**
   * Looks for node packages again where these were found, this runtime's data folder too (after
   * an install or uninstall there): new types deploy at once, running pipelines keep their code.
   * Throws NodePackageError (and keeps the old registry) when a package no longer loads.
   */
  async reloadNodeTypes(): Promise<NodeTypes> {
    this.types = await loadNodeTypes({ ...this.types.loadedWith, dataDir: this.dataDir });
    return this.types;
  }

  /** Node types as /api/nodes serves them: with whether this runtime's grants lock each one. */
  describeNodeTypes(): NodeTypeDescription[] {
    return this.nodeTypes.describe(this.grants);
  }

  /** validatePipeline, then what this runtime itself lacks for it (services its local nodes need). */
  validate(pipelineJson: unknown): ValidationResult {
    const result = validatePipeline(pipelineJson, this.nodeTypes);
    if (!result.ok) return result;
    const problems = this.serviceProblems(result.compiled, this.options.localNodes?.(result.compiled.pipeline.name, result.compiled.pipeline));
    return problems.length ? { ok: false, problems } : result;
  }

  /** Validates and runs a pipeline, replacing a running one of the same name. */
  async deploy(pipelineJson: unknown): Promise<RunningPipeline> {
    const result = validatePipeline(pipelineJson, this.nodeTypes);
    if (!result.ok) throw new PipelineInvalidError(result.problems);
    const name = result.compiled.pipeline.name;
    const localNodes = this.options.localNodes?.(name, result.compiled.pipeline);
    const refused = [
      ...this.serviceProblems(result.compiled, localNodes),
      ...this.capabilityProblems(result.compiled),
      ...(await this.pathProblems(result.compiled, localNodes)),
    ];
    if (refused.length) throw new PipelineInvalidError(refused);
    this.refuseEntrypointClashes(result.compiled);
    this.deploying.add(result.compiled);
    try {
      await this.stop(name);
      const running = await runPipeline(result.compiled, {
        transport: this.transport,
        metrics: this.metrics,
        dataDir: this.dataDir,
        services: this.services,
        localNodes,
        log: this.options.log,
        traceCapacity: this.options.traceCapacity,
      }).catch((err: unknown) => {
        if (!(err instanceof NodeStartError)) throw err;
        const index = result.compiled.pipeline.nodes.findIndex((n) => n.id === err.node);
        throw new PipelineStartError([{ path: jsonPath(["nodes", index]), message: err.message }]);
      });
      this.pipelines.set(name, running);
      return running;
    } finally {
      this.deploying.delete(result.compiled);
    }
  }

  /**
   * `entrypoint()` would serve one of two pipelines claiming the same name: refused, naming both.
   * Checked against pipelines still starting too; a redeploy replaces its own pipeline's claims.
   */
  private refuseEntrypointClashes(compiled: CompiledPipeline): void {
    const others = [...[...this.pipelines.values()].map((p) => p.compiled), ...this.deploying].filter((c) => c.pipeline.name !== compiled.pipeline.name);
    const taken = new Map<string, { pipeline: string; node: string }>();
    for (const other of others) for (const claim of entrypointClaims(other)) taken.set(claim.name, { pipeline: other.pipeline.name, node: claim.node });
    const problems = entrypointClaims(compiled).flatMap((claim) => {
      const owner = taken.get(claim.name);
      if (!owner) return [];
      return [{ path: claim.path, message: `node "${claim.node}" claims entry point "${claim.name}", which node "${owner.node}" of pipeline "${owner.pipeline}" serves already: give one another name or undeploy "${owner.pipeline}"` }];
    });
    if (problems.length > 0) throw new PipelineInvalidError(problems);
  }

  /** Every node whose type needs a capability this runtime does not grant; the whole pipeline is judged, wherever its nodes run. */
  private capabilityProblems(compiled: CompiledPipeline): Problem[] {
    return compiled.pipeline.nodes.flatMap((n, index) => {
      const missing = missingCapabilities(compiled.nodes.get(n.id)!.def, this.grants, n.config);
      if (!missing.length) return [];
      const list = missing.map((c) => `"${c}"`).join(", ");
      return [{
        path: jsonPath(["nodes", index, "type"]),
        message: `node "${n.id}" (${n.type}) needs the ${list} capabilit${missing.length > 1 ? "ies" : "y"}, which this runtime does not grant: start it with --grant ${missing.join(",")} (or list them in the settings' "grants") if you trust this pipeline`,
      }];
    });
  }

  /** Every local node whose type needs a service (NodeDefinition.services) this runtime was not given; a worker has its own. */
  private serviceProblems(compiled: CompiledPipeline, localNodes: ReadonlySet<string> | undefined): Problem[] {
    const available = new Set(Object.keys(this.services));
    return compiled.pipeline.nodes.flatMap((n, index) => {
      if (localNodes && !localNodes.has(n.id)) return [];
      const missing = missingServices(compiled.nodes.get(n.id)!.def, available);
      if (!missing.length) return [];
      return [{
        path: jsonPath(["nodes", index, "type"]),
        message: `node "${n.id}" (${n.type}) needs the ${missing.map((s) => `"${s}"`).join(", ")} service${missing.length > 1 ? "s" : ""}, which this runtime does not provide`,
      }];
    });
  }

  /**
   * Config paths resolved on this machine's disk, symlinks followed: a path that leaves the
   * pipeline's data folder, or a file to read that is missing, is refused at deploy (the string
   * itself was checked by validate); so is a `${secret:…}` or `${env:…}` this machine lacks.
   * Only the nodes that run here: a worker's disk is its own.
   */
  private async pathProblems(compiled: CompiledPipeline, localNodes: ReadonlySet<string> | undefined): Promise<Problem[]> {
    const root = pipelineDataDir(this.dataDir, compiled.pipeline.name);
    const problems: Problem[] = [];
    for (const [index, n] of compiled.pipeline.nodes.entries()) {
      if (localNodes && !localNodes.has(n.id)) continue;
      const node = compiled.nodes.get(n.id)!;
      for (const field of configPathValues(node.def.config, node.config)) {
        try {
          // What a node reads must be there: a clear refusal now rather than a node failing later.
          await resolveConfined(root, field.value, { mustExist: field.meta.access === "read" });
        } catch (err) {
          if (!(err instanceof ConfinedPathError)) throw err;
          problems.push({ path: jsonPath(["nodes", index, "config", ...field.at]), message: err.message });
        }
      }
      // A secret this machine lacks: refused now, not at the node's first connection.
      for (const field of configFieldValues(node.def.config, node.config, (s) => isSecretField(s) || undefined)) {
        try {
          await this.secrets.resolve(field.value);
        } catch (err) {
          if (!(err instanceof SecretError)) throw err;
          problems.push({ path: jsonPath(["nodes", index, "config", ...field.at]), message: err.message });
        }
      }
    }
    return problems;
  }

  /** Stops and removes a pipeline (on NATS, its definition too, so workers stop their share). */
  async undeploy(name: string): Promise<boolean> {
    if (!(await this.stop(name))) return false;
    await this.transport.withdraw?.(name);
    return true;
  }

  private async stop(name: string): Promise<boolean> {
    const running = this.pipelines.get(name);
    if (!running) return false;
    this.pipelines.delete(name);
    await running.stop();
    return true;
  }

  get(name: string): RunningPipeline | undefined {
    return this.pipelines.get(name);
  }

  list(): RunningPipeline[] {
    return [...this.pipelines.values()];
  }

  /** A drift alarm kept by any pipeline deployed here, with its upstream windows (runtime/alarm-windows.ts). */
  alarm(id: string): DriftAlarm | undefined {
    for (const p of this.pipelines.values()) {
      const alarm = p.alarms.get(id);
      if (alarm) return alarm;
    }
    return undefined;
  }

  /** The sync entry point (io.http) of that name in any pipeline: asked on every request, so no array is built. */
  entrypoint(name: string): Entrypoint | undefined {
    for (const p of this.pipelines.values()) {
      const entry = p.entrypoints.get(name);
      if (entry) return entry;
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const name of [...this.pipelines.keys()]) await this.undeploy(name);
    await this.transport.close();
  }
}
