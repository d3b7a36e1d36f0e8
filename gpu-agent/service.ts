/**
 * The `models` service nodes and the `/v2` routes use: run `name@version` wherever
 * it is hosted. `LocalModels` is the in-process agent (a ModelHost fed from the
 * registry); `gpu-agent/nats.ts` has the one that goes to agents over NATS. Both
 * resolve `champion` / `latest` through the registry and follow champion changes.
 */
import type { ModelDescription, ModelService } from "../sdk/models";
import type { ModelRegistry, VersionRef } from "../sdk/registry";
import type { Tensor } from "../sdk/ports";
import type { ModelVersion } from "../sdk/registry";
import { ModelHost, ModelNotFoundError } from "./host";
import type { SourcedArtifact } from "./host-types";
import type { TensorSpec } from "./tensors";
// The service's types are the SDK's: nodes reach it as the `models` service (sdk/models.ts).
export type { ModelDescription, ModelService } from "../sdk/models";

/**
 * The model exists but has no champion to serve (only candidates, rejected or retired
 * versions): HTTP 409 on the `/v2` routes, with what there is, rather than "not found".
 */
export class NoChampionError extends ModelNotFoundError {
  override name = "NoChampionError";
  constructor(readonly model: string, readonly statuses: Record<string, number>) {
    const versions = Object.entries(statuses).map(([status, n]) => `${n} ${status}`).join(", ");
    super(`no champion for ${model} (versions: ${versions}); promote one with \`evoflow model promote ${model}@N\``);
  }
}

/**
 * Champion and latest versions through the registry, cached and kept current by its
 * watch, so resolving `name@champion` costs no file read per request.
 */
export class VersionResolver {
  private readonly champions = new Map<string, number | undefined>();
  private readonly listeners = new Map<string, Set<(version: number | undefined) => void>>();
  private readonly unwatch = new Map<string, () => void>();

  constructor(private readonly registry: ModelRegistry | undefined, private readonly fallbackVersions?: (name: string) => number[]) {}

  async resolve(name: string, ref: VersionRef): Promise<number> {
    if (typeof ref === "number") return ref;
    if (!this.registry) {
      // No registry: the host's own assignments are all there is; `champion` means the newest.
      const versions = this.fallbackVersions?.(name) ?? [];
      if (!versions.length) throw new ModelNotFoundError(`model ${name} not found`);
      return versions[versions.length - 1];
    }
    if (ref === "latest") {
      const v = await this.registry.get(name, "latest");
      if (!v) throw new ModelNotFoundError(`model ${name} not found in the registry`);
      return v.version;
    }
    this.follow(name);
    if (!this.champions.has(name)) this.champions.set(name, (await this.registry.get(name, "champion"))?.version);
    const version = this.champions.get(name);
    if (version === undefined) {
      const versions = await this.registry.versions(name);
      if (!versions.length) throw new ModelNotFoundError(`model ${name} not found in the registry`);
      const statuses: Record<string, number> = {};
      for (const v of versions) statuses[v.status] = (statuses[v.status] ?? 0) + 1;
      throw new NoChampionError(name, statuses);
    }
    return version;
  }

  private follow(name: string): void {
    if (!this.registry || this.unwatch.has(name)) return;
    this.unwatch.set(
      name,
      this.registry.watch(name, (event) => {
        let next: number | undefined | null = null;
        if (event.type === "champion") next = event.version;
        else if ((event.type === "status" && event.previous === "champion") || (event.type === "deleted" && this.champions.get(name) === event.version)) next = undefined;
        if (next === null || (this.champions.has(name) && this.champions.get(name) === next)) return;
        this.champions.set(name, next);
        for (const l of this.listeners.get(name) ?? []) l(next);
      }),
    );
  }

  watchChampion(name: string, listener: (version: number | undefined) => void): () => void {
    this.follow(name);
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  close(): void {
    for (const off of this.unwatch.values()) off();
    this.unwatch.clear();
  }
}

/** A registry version's artifact as the host assigns it: its format, and its signature where the record gives one (not ONNX: read from the file). */
export function sourced(record: ModelVersion, bytes: Uint8Array): SourcedArtifact {
  const format = record.artifact.format ?? "onnx";
  const given = format !== "onnx" && record.signature.inputs.length > 0;
  const specs = (list: ModelVersion["signature"]["inputs"]) => list.map((t): TensorSpec => ({ name: t.name, dtype: t.dtype as TensorSpec["dtype"], shape: t.shape ?? [] }));
  return { bytes, format, ...(given ? { signature: { inputs: specs(record.signature.inputs), outputs: specs(record.signature.outputs) } } : {}) };
}

/** The in-process agent: a ModelHost whose artifacts come from the registry on first use. */
export class LocalModels implements ModelService {
  readonly resolver: VersionResolver;

  constructor(readonly host: ModelHost, readonly registry?: ModelRegistry) {
    this.resolver = new VersionResolver(registry, (name) => host.versionsOf(name));
  }

  /** The artifact source to give the host: reads from the registry. */
  static registrySource(registry: ModelRegistry) {
    return async (name: string, version: number): Promise<SourcedArtifact | undefined> => {
      const record = await registry.get(name, version);
      if (!record) return undefined;
      return sourced(record, await registry.readArtifact(name, version));
    };
  }

  resolve(name: string, ref: VersionRef): Promise<number> {
    return this.resolver.resolve(name, ref);
  }

  async describe(name: string, version: number): Promise<ModelDescription> {
    const known = this.host.signature(name, version);
    if (known) return { name, version, ...known };
    const record = await this.registry?.get(name, version);
    if (!record) throw new ModelNotFoundError(`model ${name}@${version} not found`);
    // Assigning reads the signature from the cached file, the same way a load would.
    const { bytes, format, signature } = sourced(record, await this.registry!.readArtifact(name, version));
    const info = await this.host.assign({ name, version, artifact: bytes, format, signature });
    return { name, version, format: info.format, inputs: info.inputs, outputs: info.outputs, resident: info.state === "resident" };
  }

  infer(name: string, version: number, inputs: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    return this.host.infer(name, version, inputs, outputs);
  }

  watchChampion(name: string, listener: (version: number | undefined) => void): () => void {
    return this.resolver.watchChampion(name, listener);
  }

  retire(name: string, version: number): void {
    this.host.retire(name, version);
  }

  async close(): Promise<void> {
    this.resolver.close();
    await this.host.close();
  }
}
