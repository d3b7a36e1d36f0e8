/**
 * `evoflow model …`: the model registry from the terminal (register, list, show, promote,
 * status, delete). Works on the registry `--registry` names (a folder, nats://…, mongodb://…),
 * else `EVOFLOW_REGISTRY_NATS`, `EVOFLOW_REGISTRY`, or the folder `.evoflow/registry`.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import * as tar from "tar";
import type { Command } from "commander";
import { openModelRegistry, registryLocation } from "../registry/open";
import { MODEL_FORMATS, parseModelRef, RegistryError, type ModelFormat, type ModelRegistry, type RegisterInput, type ModelStatus, type ModelVersion } from "../../sdk/registry";
import type { TensorSignature } from "../../onnx/signature";

/** Left-aligned text columns, for terminal tables. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

function parsePairs(pairs: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new RegistryError("invalid", `${what} "${pair}" must be written key=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function parseMetrics(pairs: string[]): Record<string, number> {
  return Object.fromEntries(
    Object.entries(parsePairs(pairs, "metric")).map(([k, v]) => {
      const n = Number(v);
      if (v.trim() === "" || !Number.isFinite(n)) throw new RegistryError("invalid", `metric "${k}" must be a number, got "${v}"`);
      return [k, n];
    }),
  );
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** The version a reference names (NAME, NAME@N, NAME@champion, NAME@latest), or a not_found error. */
async function resolveVersion(registry: ModelRegistry, text: string): Promise<ModelVersion> {
  const { name, ref } = parseModelRef(text, "latest");
  const found = await registry.get(name, ref);
  if (!found) {
    const what = typeof ref === "number" ? `no version ${ref} of model "${name}"` : ref === "champion" ? `model "${name}" has no champion` : `no model "${name}"`;
    throw new RegistryError("not_found", what);
  }
  return found;
}

function requireExplicitVersion(text: string): void {
  if (!text.includes("@")) throw new RegistryError("invalid", `say which version: ${text}@<version>`);
}

function describeTensor(t: TensorSignature): string {
  if (t.kind !== "tensor") return `${t.name}: ${t.kind}`;
  if (!t.shape) return `${t.name}: ${t.dtype}[rank unknown]`;
  const dims = t.shape.map((d, i) => (d === -1 ? (t.dimNames?.[i] ?? "?") : String(d)));
  return `${t.name}: ${t.dtype}[${dims.join(", ")}]`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function describeVersion(v: ModelVersion): string {
  const lines = [
    `${v.name}@${v.version}  ${v.status}`,
    `created     ${v.createdAt}`,
    `artifact    onnx, ${formatBytes(v.artifact.size)}, sha256 ${v.artifact.sha256}`,
    `inputs      ${v.signature.inputs.map(describeTensor).join("; ")}`,
    `outputs     ${v.signature.outputs.map(describeTensor).join("; ")}`,
    `opsets      ${v.signature.opsets.map((o) => `${o.domain || "ai.onnx"} ${o.version}`).join(", ")}`,
  ];
  if (Object.keys(v.labels).length) lines.push(`labels      ${Object.entries(v.labels).map(([k, val]) => `${k}=${val}`).join(" ")}`);
  if (Object.keys(v.metrics).length) lines.push(`metrics     ${Object.entries(v.metrics).map(([k, val]) => `${k}=${val}`).join(" ")}`);
  const { baseVersion, data, trainer } = v.lineage;
  if (baseVersion !== undefined) lines.push(`base        ${v.name}@${baseVersion}`);
  if (data) lines.push(`data        ${"snapshot" in data ? `snapshot ${data.snapshot}` : `${data.stream} ${data.ranges.map((r) => `${r.from}..${r.to}`).join(", ")}`}`);
  if (trainer) lines.push(`trainer     ${JSON.stringify(trainer)}`);
  if (v.validation) lines.push(`validation  ${v.validation.passed ? "passed" : `failed: ${v.validation.reasons.join("; ")}`}`);
  lines.push("history");
  for (const h of v.history) lines.push(`  ${h.at}  ${h.status}${h.reason ? `  (${h.reason})` : ""}`);
  let text = `${lines.join("\n")}\n`;
  if (v.profile) {
    text += `profile (${v.profile.executionProvider}, ${v.profile.createdAt})\n`;
    text += formatTable(
      ["batch", "examples/s", "p50 ms", "p95 ms", "p99 ms", "peak RSS"],
      v.profile.results.map((r) => [String(r.batchSize), r.throughput.toFixed(0), r.latencyMs.p50.toFixed(3), r.latencyMs.p95.toFixed(3), r.latencyMs.p99.toFixed(3), formatBytes(r.memory.peakRssBytes)]),
    );
  }
  return text;
}

/** Runs a command body with the registry at `location`, turning failures into a message and exit code 1. */
export async function withRegistry(location: string | undefined, body: (registry: ModelRegistry) => Promise<void>): Promise<void> {
  let registry: ModelRegistry | undefined;
  try {
    registry = await openModelRegistry(registryLocation(location));
    await body(registry);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await registry?.close();
  }
}

export const REGISTRY_OPTION = [
  "--registry <location>",
  "the registry: a folder, nats://host:port or mongodb://… (default: $EVOFLOW_REGISTRY_NATS, $EVOFLOW_REGISTRY, .evoflow/registry)",
] as const;

function print(text: string): void {
  process.stdout.write(text);
}

/**
 * The artifact's bytes: the file, or for the python format a folder packed as the tar archive the
 * format is (one blob, as every registry backend stores, which Python's tarfile unpacks).
 */
async function readArtifactArgument(file: string, format: ModelFormat): Promise<Uint8Array> {
  const info = await stat(file).catch((err: Error) => {
    throw new Error(`cannot read ${file}: ${err.message}`);
  });
  if (!info.isDirectory()) return new Uint8Array(await readFile(file));
  if (format !== "python") throw new RegistryError("invalid", `${file} is a folder: only --format python takes one (a folder with model.py)`);
  const entries = await readdir(file);
  if (!entries.includes("model.py")) throw new RegistryError("invalid", `${file} has no model.py`);
  const chunks: Buffer[] = [];
  // portable: no owner names or ids of this machine in the archive, so the same folder packs alike anywhere.
  for await (const chunk of tar.create({ cwd: file, portable: true }, entries.sort())) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** Checked by the registry (signature.inputs[i] with its JSON path). */
async function readJsonFile(file: string): Promise<NonNullable<RegisterInput["signature"]>> {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new RegistryError("invalid", `cannot read ${file} as JSON: ${(err as Error).message}`);
  }
}

function printJson(value: unknown): void {
  print(`${JSON.stringify(value, null, 2)}\n`);
}

export function register(program: Command): void {
  const model = program.command("model").description("the model registry: register, list, show, promote, set status, delete");

  model
    .command("register")
    .description("register a model file as the next version of a model (status candidate): an ONNX file, an sklearn joblib/pickle file, or a Python model folder")
    .argument("<file>", "the .onnx file; the .joblib/.pkl file (--format sklearn); the folder with model.py, or its tar archive (--format python)")
    .requiredOption("--name <name>", "model name")
    .option("--format <format>", `what the file is: ${MODEL_FORMATS.join(", ")}`, "onnx")
    .option("--allow-exec", "accept that loading the model runs its code: required for sklearn (a pickle names what to call) and python models")
    .option("--signature <file>", "a JSON file {inputs, outputs: [{name, dtype, shape}]} for an sklearn or python model (else the agent reads it from the model)")
    .option("--label <key=value>", "a label (repeatable)", collect, [])
    .option("--metric <key=value>", "a numeric metric (repeatable)", collect, [])
    .option("--base <version>", "the version this one was trained from")
    .option("--promote", "make it the champion at once")
    .option("--json", "print the version record as JSON")
    .option(...REGISTRY_OPTION)
    .action(async (file: string, opts: { name: string; format: string; allowExec?: boolean; signature?: string; label: string[]; metric: string[]; base?: string; promote?: boolean; json?: boolean; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        if (!(MODEL_FORMATS as readonly string[]).includes(opts.format)) throw new RegistryError("invalid", `--format must be one of ${MODEL_FORMATS.join(", ")}, got "${opts.format}"`);
        const format = opts.format as ModelFormat;
        const bytes = await readArtifactArgument(file, format);
        const base = opts.base === undefined ? undefined : Number(opts.base);
        if (base !== undefined && !(Number.isInteger(base) && base > 0)) throw new RegistryError("invalid", `--base must be a version number, got "${opts.base}"`);
        let version = await registry.register({
          name: opts.name,
          artifact: bytes,
          format,
          allowExec: opts.allowExec,
          ...(opts.signature ? { signature: await readJsonFile(opts.signature) } : {}),
          labels: parsePairs(opts.label, "label"),
          metrics: parseMetrics(opts.metric),
          lineage: base === undefined ? {} : { baseVersion: base },
        });
        if (opts.promote) version = await registry.promote(version.name, version.version, "registered with --promote");
        if (opts.json) printJson(version);
        else print(`registered ${version.name}@${version.version} (${version.status}${version.artifact.format !== "onnx" ? `, ${version.artifact.format}` : ""}, sha256 ${version.artifact.sha256.slice(0, 12)})\n`);
      }),
    );

  model
    .command("list")
    .description("list models: versions, latest, champion")
    .option("--json", "print JSON")
    .option(...REGISTRY_OPTION)
    .action(async (opts: { json?: boolean; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        const models = await registry.list();
        if (opts.json) return printJson(models);
        if (!models.length) return print("no models registered\n");
        print(formatTable(["name", "versions", "latest", "champion", "updated"], models.map((m) => [m.name, String(m.versions), String(m.latest), m.champion === undefined ? "-" : String(m.champion), m.updatedAt])));
      }),
    );

  model
    .command("show")
    .description("show a model's versions (NAME) or one version in full (NAME@VERSION, NAME@champion, NAME@latest)")
    .argument("<ref>", "NAME or NAME@VERSION")
    .option("--json", "print JSON")
    .option(...REGISTRY_OPTION)
    .action(async (ref: string, opts: { json?: boolean; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        if (ref.includes("@")) {
          const version = await resolveVersion(registry, ref);
          return opts.json ? printJson(version) : print(describeVersion(version));
        }
        const { name } = parseModelRef(ref);
        const versions = await registry.versions(name);
        if (!versions.length) throw new RegistryError("not_found", `no model "${name}"`);
        if (opts.json) return printJson(versions);
        print(
          formatTable(
            ["version", "status", "created", "size", "metrics", "labels"],
            versions.map((v) => [
              String(v.version),
              v.status,
              v.createdAt,
              formatBytes(v.artifact.size),
              Object.entries(v.metrics).map(([k, val]) => `${k}=${val}`).join(" "),
              Object.entries(v.labels).map(([k, val]) => `${k}=${val}`).join(" "),
            ]),
          ),
        );
      }),
    );

  model
    .command("promote")
    .description("make NAME@VERSION the champion (the previous champion is retired; serving nodes hot-swap)")
    .argument("<ref>", "NAME@VERSION")
    .option("--reason <text>", "why, kept in the version's history")
    .option(...REGISTRY_OPTION)
    .action(async (ref: string, opts: { reason?: string; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        requireExplicitVersion(ref);
        const target = await resolveVersion(registry, ref);
        const previous = await registry.get(target.name, "champion");
        await registry.promote(target.name, target.version, opts.reason);
        const replaced = previous && previous.version !== target.version ? ` (was ${previous.name}@${previous.version}, now retired)` : "";
        print(`${target.name}@${target.version} is the champion${replaced}\n`);
      }),
    );

  model
    .command("status")
    .description("set the status of NAME@VERSION: candidate, champion, rejected or retired")
    .argument("<ref>", "NAME@VERSION")
    .argument("<status>", "candidate | champion | rejected | retired")
    .option("--reason <text>", "why, kept in the version's history")
    .option(...REGISTRY_OPTION)
    .action(async (ref: string, status: string, opts: { reason?: string; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        requireExplicitVersion(ref);
        const target = await resolveVersion(registry, ref);
        const updated = await registry.setStatus(target.name, target.version, status as ModelStatus, opts.reason);
        print(`${updated.name}@${updated.version} is ${updated.status}\n`);
      }),
    );

  model
    .command("delete")
    .description("delete NAME@VERSION and its artifact (the champion only with --force)")
    .argument("<ref>", "NAME@VERSION")
    .option("--force", "also delete the champion, leaving the model without one")
    .option(...REGISTRY_OPTION)
    .action(async (ref: string, opts: { force?: boolean; registry?: string }) =>
      withRegistry(opts.registry, async (registry) => {
        requireExplicitVersion(ref);
        const target = await resolveVersion(registry, ref);
        await registry.delete(target.name, target.version, { force: opts.force });
        print(`deleted ${target.name}@${target.version}\n`);
      }),
    );
}
