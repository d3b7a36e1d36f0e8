/**
 * Backend-independent registry logic: building version records, status changes and
 * summaries. Backends store and fetch; the rules live here so every backend applies them alike.
 */
import { createHash } from "node:crypto";
import { InvalidOnnxModelError, readSignature } from "../../onnx/signature";
import { checkModelName, EXEC_FORMATS, MODEL_FORMATS, RegistryError, MODEL_STATUSES, type Lineage, type ModelSignature, type TensorSignature, type ModelStatus, type ModelSummary, type ModelVersion, type RegisterInput } from "../../sdk/registry";

/**
 * Checks a registration before anything is stored: the name, and that the artifact is an
 * ONNX model (its signature is read from it), or a model of a code-running format registered
 * with `allowExec`. Returns the record fields that do not depend on the version number.
 */
export function prepareRegistration(input: RegisterInput): Omit<ModelVersion, "version" | "createdAt" | "updatedAt" | "history"> {
  checkModelName(input.name);
  const format = input.format ?? "onnx";
  if (!(MODEL_FORMATS as readonly string[]).includes(format)) throw new RegistryError("invalid", `unknown model format "${format}": use one of ${MODEL_FORMATS.join(", ")}`);
  if (!(input.artifact instanceof Uint8Array)) throw new RegistryError("invalid", `the artifact must be the bytes of ${format === "onnx" ? "an .onnx file" : format === "sklearn" ? "a joblib or pickle file" : "a tar archive of the model's folder"}`);
  let signature: ModelSignature;
  if (format === "online-json") signature = onlineSignature(input);
  else if (EXEC_FORMATS.includes(format)) {
    if (!input.allowExec)
      throw new RegistryError("invalid", `cannot register "${input.name}": loading a ${format} model runs its code (${format === "sklearn" ? "a pickle names what to call" : "model.py"}), so registering one needs exec (allowExec; \`evoflow model register --allow-exec\`)`);
    signature = { inputs: checkGivenSignature(input.signature?.inputs, "inputs"), outputs: checkGivenSignature(input.signature?.outputs, "outputs"), irVersion: 0, opsets: [], metadata: {} };
  } else {
    if (input.signature) throw new RegistryError("invalid", "an ONNX model's signature is read from its file: give none");
    try {
      signature = readSignature(input.artifact);
    } catch (err) {
      if (err instanceof InvalidOnnxModelError) throw new RegistryError("invalid", `cannot register "${input.name}": ${err.message}`);
      throw err;
    }
  }
  for (const [k, v] of Object.entries(input.metrics ?? {})) {
    if (typeof v !== "number") throw new RegistryError("invalid", `metric "${k}" must be a number`);
  }
  checkLineage(input.lineage);
  for (const [k, v] of Object.entries(input.labels ?? {})) {
    if (typeof v !== "string") throw new RegistryError("invalid", `label "${k}" must be a string`);
  }
  return {
    name: input.name,
    status: "candidate",
    artifact: { format, sha256: sha256Hex(input.artifact), size: input.artifact.byteLength },
    signature,
    metrics: { ...input.metrics },
    lineage: structuredClone(input.lineage ?? {}),
    labels: { ...input.labels },
  };
}

/** An online learner's snapshot (nodes/model/online/learner.ts): JSON naming its format, features and classes, which give the signature. */
function onlineSignature(input: RegisterInput): ModelSignature {
  let doc: { format?: unknown; features?: unknown; classes?: unknown };
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(input.artifact));
  } catch (err) {
    throw new RegistryError("invalid", `cannot register "${input.name}": an online-json artifact must be JSON (${(err as Error).message})`);
  }
  const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (doc?.format !== "online-json" || !positive(doc.features) || !positive(doc.classes))
    throw new RegistryError("invalid", `cannot register "${input.name}": an online-json artifact needs {format: "online-json", features, classes} (positive integers)`);
  return {
    inputs: [{ name: "x", kind: "tensor", dtype: "float32", shape: [-1, doc.features as number] }],
    outputs: [{ name: "probabilities", kind: "tensor", dtype: "float32", shape: [-1, doc.classes as number] }],
    irVersion: 0,
    opsets: [],
    metadata: {},
  };
}

/** A given signature's tensors (empty when none is given: the agent reads it from the model). */
function checkGivenSignature(list: TensorSignature[] | undefined, what: string): TensorSignature[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new RegistryError("invalid", `signature.${what} must be a list of {name, dtype, shape}`);
  return list.map((t, i) => {
    if (typeof t?.name !== "string" || !t.name || typeof t.dtype !== "string" || !Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= -1))
      throw new RegistryError("invalid", `signature.${what}[${i}] must be {name, dtype, shape} with sizes of -1 or more, got ${JSON.stringify(t)}`);
    return { name: t.name, kind: "tensor", dtype: t.dtype, shape: [...t.shape] };
  });
}

function checkLineage(lineage: Lineage | undefined): void {
  if (lineage === undefined) return;
  const { baseVersion, data } = lineage;
  if (baseVersion !== undefined && !(Number.isInteger(baseVersion) && baseVersion > 0)) {
    throw new RegistryError("invalid", `lineage.baseVersion must be a version number, got ${JSON.stringify(baseVersion)}`);
  }
  if (data === undefined) return;
  if ("snapshot" in data) {
    if (typeof data.snapshot !== "string" || !data.snapshot) throw new RegistryError("invalid", "lineage.data.snapshot must be a non-empty string");
    return;
  }
  if (typeof data.stream !== "string" || !data.stream || !Array.isArray(data.ranges)) {
    throw new RegistryError("invalid", "lineage.data must be {stream, ranges: [{from, to}]} or {snapshot}");
  }
  data.ranges.forEach((r, i) => {
    if (!(Number.isInteger(r?.from) && Number.isInteger(r?.to) && r.from >= 0 && r.from <= r.to)) {
      throw new RegistryError("invalid", `lineage.data.ranges[${i}] must be {from, to} sequence numbers with from ≤ to, got ${JSON.stringify(r)}`);
    }
  });
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function checkStatus(status: string): asserts status is ModelStatus {
  if (!(MODEL_STATUSES as readonly string[]).includes(status)) {
    throw new RegistryError("invalid", `unknown status "${status}": use one of ${MODEL_STATUSES.join(", ")}`);
  }
}

/** The record with a new status, its history extended. */
export function withStatus(record: ModelVersion, status: ModelStatus, now: string, reason?: string): ModelVersion {
  return {
    ...record,
    status,
    history: [...record.history, reason === undefined ? { status, at: now } : { status, at: now, reason }],
    updatedAt: now,
  };
}

/**
 * The records that change when `version` becomes champion: it, and every other champion
 * (normally one) which is retired. Also returns the previous champion's number.
 */
export function planPromotion(all: ModelVersion[], version: number, now: string, reason?: string): { changed: ModelVersion[]; previous?: number } {
  const target = all.find((v) => v.version === version);
  if (!target) throw new RegistryError("not_found", `no version ${version} of model "${all[0]?.name ?? "?"}"`);
  const previousChampions = all.filter((v) => v.status === "champion" && v.version !== version);
  const changed = previousChampions.map((v) => withStatus(v, "retired", now, `replaced by version ${version}`));
  if (target.status !== "champion") changed.push(withStatus(target, "champion", now, reason));
  return { changed, previous: previousChampions.at(-1)?.version };
}

export function summarize(name: string, versions: ModelVersion[]): ModelSummary {
  const champion = versions.filter((v) => v.status === "champion").at(-1);
  return {
    name,
    versions: versions.length,
    latest: Math.max(...versions.map((v) => v.version)),
    ...(champion ? { champion: champion.version } : {}),
    updatedAt: versions.map((v) => v.updatedAt).sort().at(-1)!,
  };
}

export function notFound(name: string, version?: number): RegistryError {
  return new RegistryError("not_found", version === undefined ? `no model "${name}"` : `no version ${version} of model "${name}"`);
}
