/**
 * What assigning a model does to the host's local artifact cache (`<cacheDir>/<name>/<version>/`):
 * the artifact written there (or laid out by the backend, `Backend.prepare`), and its signature read
 * from the ONNX file, taken as given, or read from the model by the backend (`Backend.inspect`,
 * which loads it in a Python worker and measures that worker).
 */
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../runtime/files";
import type { ModelFormat } from "../sdk/registry";
import type { Backend, Inspection } from "./backend";
import type { AssignInput } from "./host-types";
import { onnxSignature } from "./onnx-signature";

/** The model's format runs code when loaded (sklearn, python) and this agent does not allow exec: HTTP 403. */
export class ExecNotAllowedError extends Error {
  override name = "ExecNotAllowedError";
}

/** The cached artifact's name, by format. */
const ARTIFACT_FILE: Record<ModelFormat, string> = { onnx: "model.onnx", sklearn: "model.joblib", python: "model.tar", "online-json": "model.json" };

export async function cacheArtifact(backend: Backend, cacheDir: string, input: AssignInput): Promise<{ format: ModelFormat; artifactPath: string; artifactBytes: number; signature: Inspection }> {
  const bytes = typeof input.artifact === "string" ? new Uint8Array(await readFile(input.artifact)) : input.artifact;
  const format = input.format ?? "onnx";
  const dir = join(cacheDir, input.name, String(input.version));
  const artifactPath = join(dir, ARTIFACT_FILE[format]);
  await mkdir(dir, { recursive: true });
  let signature: Inspection;
  if (format === "onnx") {
    signature = onnxSignature(bytes);
    if (await backend.prepare?.(artifactPath, bytes)) await rm(artifactPath, { force: true }); // left by an earlier assignment
    else await writeOnce(artifactPath, bytes);
  } else {
    await writeOnce(artifactPath, bytes);
    // Given, or read from the model in a worker, which also measures what the model takes loaded
    // (when given, its first load measures it: ModelHost's accountMeasured).
    if (input.signature?.inputs.length) signature = { inputs: input.signature.inputs, outputs: input.signature.outputs };
    else if (backend.inspect) signature = await backend.inspect(format, artifactPath);
    else throw new ExecNotAllowedError(`this agent's ${backend.kind} backend does not load ${format} models (they run code: start the agent with --allow-exec, or grant the runtime exec)`);
  }
  return { format, artifactPath, artifactBytes: bytes.length, signature };
}

async function writeOnce(artifactPath: string, bytes: Uint8Array): Promise<void> {
  const sameFile = await stat(artifactPath).then((s) => s.size === bytes.length, () => false);
  // Never a half-written file that looks cached, even after a crash.
  if (!sameFile) await writeFileAtomic(artifactPath, bytes);
}
