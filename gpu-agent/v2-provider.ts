/**
 * What the Open Inference Protocol routes (`runtime/api/v2.ts`) serve, and its
 * implementation over the models service and, where there is one, a ModelHost's
 * repository (Triton's explicit model control: index, load with `config` and
 * `file:<version>/model.onnx`, unload).
 */
import type { Tensor } from "../sdk/ports";
import { checkModelName, RegistryError, type ModelFormat } from "../sdk/registry";
import type { ModelHost } from "./host";
import { ModelNotFoundError } from "./host";
import { NoChampionError, type ModelService } from "./service";
import { TensorInputError, V2_DATATYPE, type TensorSpec } from "./tensors";

export interface V2TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface V2ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: V2TensorMetadata[];
  outputs: V2TensorMetadata[];
}

export interface V2InferResult {
  modelName: string;
  modelVersion?: string;
  /** In the order the caller asked for them (or the model's order). */
  outputs: { name: string; tensor: Tensor }[];
}

export interface V2RepositoryEntry {
  name: string;
  version?: string;
  state: "READY" | "LOADING" | "UNLOADING" | "UNAVAILABLE";
  reason: string;
}

export interface V2Repository {
  index(readyOnly: boolean): Promise<V2RepositoryEntry[]>;
  load(name: string, parameters: Record<string, unknown>): Promise<void>;
  unload(name: string): Promise<void>;
}

/** Everything behind `/v2`. Lookups answer undefined for names they do not know; errors carry their HTTP meaning by class. */
export interface V2Provider {
  metadata(name: string, version?: string): Promise<V2ModelMetadata | undefined>;
  infer(name: string, version: string | undefined, inputs: Record<string, Tensor>, outputs: string[] | undefined, traceId?: string): Promise<V2InferResult | undefined>;
  repository?: V2Repository;
}

const toMeta = (s: TensorSpec): V2TensorMetadata => ({ name: s.name, datatype: V2_DATATYPE[s.dtype], shape: s.shape });

function parseVersion(version: string | undefined): number | undefined {
  if (version === undefined || version === "") return undefined;
  if (!/^[1-9][0-9]*$/.test(version)) throw new TensorInputError(`version must be a positive integer, got "${version}"`);
  return Number(version);
}

/**
 * Treats "no such model" from the service or registry as unknown (undefined), so a caller
 * can try other providers. A model that exists without a champion is not unknown: its
 * NoChampionError says what versions it has.
 */
async function orUndefined<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof NoChampionError) throw err;
    if (err instanceof ModelNotFoundError || (err instanceof RegistryError && err.code === "not_found")) return undefined;
    throw err;
  }
}

/** OIP's `platform` per format: Triton's name for ONNX models, KServe's/MLServer's runtime names for the others. */
const PLATFORM: Record<ModelFormat, string> = { onnx: "onnxruntime_onnx", sklearn: "sklearn", python: "python", "online-json": "evoflow_online_json" };

/**
 * Models by name: no version means the champion (or the newest the host holds when
 * there is no registry). `versions` lists what the registry, else the host, has.
 */
export function modelsV2Provider(models: ModelService, options: { host?: ModelHost; versions?: (name: string) => Promise<number[]> } = {}): V2Provider {
  const resolve = (name: string, version?: string) => {
    const pinned = parseVersion(version);
    return pinned !== undefined ? Promise.resolve(pinned) : models.resolve(name, "champion");
  };
  return {
    metadata: (name, version) =>
      orUndefined(async () => {
        const d = await models.describe(name, await resolve(name, version));
        const versions = (await options.versions?.(name)) ?? options.host?.versionsOf(name) ?? [d.version];
        return { name, versions: versions.map(String), platform: PLATFORM[d.format ?? "onnx"], inputs: d.inputs.map(toMeta), outputs: d.outputs.map(toMeta) };
      }),
    infer: (name, version, inputs, outputs) =>
      orUndefined(async () => {
        const v = await resolve(name, version);
        const d = await models.describe(name, v);
        const result = await models.infer(name, v, inputs, outputs);
        const order = outputs ?? d.outputs.map((o) => o.name);
        return { modelName: name, modelVersion: String(v), outputs: order.map((o) => ({ name: o, tensor: result[o] })) };
      }),
    repository: options.host && hostRepository(options.host),
  };
}

const FILE_PARAM = /^file:([1-9][0-9]*)\/model\.onnx$/;

/** Triton's explicit model control over a ModelHost. Unloaded models stay in the index as UNAVAILABLE; a request reloads them on demand. */
export function hostRepository(host: ModelHost): V2Repository {
  return {
    async index(readyOnly) {
      const entries = host.list().map((m): V2RepositoryEntry => ({
        name: m.name,
        version: String(m.version),
        state: m.state === "resident" ? "READY" : m.state === "loading" ? "LOADING" : m.state === "unloading" ? "UNLOADING" : "UNAVAILABLE",
        reason: m.state === "cold" ? "unloaded" : "",
      }));
      return readyOnly ? entries.filter((e) => e.state === "READY") : entries;
    },
    async load(name, parameters) {
      checkModelName(name); // it names a folder of the artifact cache
      const files = Object.entries(parameters).filter(([k]) => k.startsWith("file:"));
      if (files.length === 0) {
        const versions = host.versionsOf(name);
        if (!versions.length) throw new ModelNotFoundError(`failed to load '${name}': not in the repository (send it with "config" and "file:1/model.onnx")`);
        await host.warm(name, versions[versions.length - 1]);
        return;
      }
      // As in Triton: override files replace the model directory, so the config must come with them.
      if (typeof parameters.config !== "string") throw new TensorInputError(`failed to load '${name}': "config" (the model configuration as a JSON string) is required with file: parameters`);
      let config: { input?: { name?: string }[]; output?: { name?: string }[] };
      try {
        config = JSON.parse(parameters.config);
      } catch (err) {
        throw new TensorInputError(`failed to load '${name}': config is not JSON (${(err as Error).message})`);
      }
      for (const [key, value] of files) {
        const match = FILE_PARAM.exec(key);
        if (!match) throw new TensorInputError(`failed to load '${name}': unsupported file parameter "${key}" (expected file:<version>/model.onnx)`);
        if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new TensorInputError(`failed to load '${name}': "${key}" must be base64`);
        const version = Number(match[1]);
        const bytes = new Uint8Array(Buffer.from(value, "base64"));
        if (host.has(name, version)) await host.remove(name, version); // a reload with new files
        let info;
        try {
          info = await host.assign({ name, version, artifact: bytes });
        } catch (err) {
          throw new TensorInputError(`failed to load '${name}': ${(err as Error).message}`);
        }
        const declared = [...(config.input ?? []).map((t) => ["input", t.name] as const), ...(config.output ?? []).map((t) => ["output", t.name] as const)];
        for (const [kind, tensorName] of declared) {
          const list = kind === "input" ? info.inputs : info.outputs;
          if (!list.some((s) => s.name === tensorName)) {
            await host.remove(name, version);
            throw new TensorInputError(`failed to load '${name}': config ${kind} "${tensorName}" is not in the model (it has ${list.map((s) => `"${s.name}"`).join(", ")})`);
          }
        }
        await host.warm(name, version);
      }
    },
    async unload(name) {
      const versions = host.versionsOf(name);
      if (!versions.length) throw new ModelNotFoundError(`failed to unload '${name}': not in the repository`);
      for (const v of versions) host.retire(name, v);
    },
  };
}
