/**
 * onnxruntime's telemetry is off wherever Evoflow runs it (onnx/ort.ts). Each case
 * runs a child process with a home folder of its own and without the CI variables by which
 * onnxruntime turns it off itself, creates two sessions and looks for the telemetry store
 * onnxruntime keeps under ~/.cache/Microsoft.
 */
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { telemetryTestEnv, tempDir } from "../agent/helpers";

const TSX = pathToFileURL(resolve("node_modules/tsx/dist/loader.mjs")).href;

/** Whether creating sessions through `importLine` left a telemetry store in a fresh home folder. */
async function leavesTelemetryStore(importLine: string, env: Record<string, string> = {}): Promise<boolean> {
  const home = tempDir("ort-home");
  const script = join(tempDir("ort-script"), "sessions.mts");
  writeFileSync(
    script,
    `${importLine}
import { makeMlp } from ${JSON.stringify(pathToFileURL(resolve("test/fixtures/mlp.ts")).href)};
for (const seed of [1, 2]) {
  const session = await ort.InferenceSession.create(makeMlp({ sizes: [4, 3], seed }).bytes);
  await session.release();
}
`,
  );
  await new Promise<void>((done, fail) =>
    execFile(process.execPath, ["--import", TSX, script], { env: { ...telemetryTestEnv(home), ...env }, cwd: resolve(".") }, (err, _out, stderr) => (err ? fail(new Error(stderr || err.message)) : done())),
  );
  return existsSync(join(home, ".cache", "Microsoft"));
}

const WRAPPER = `import { ort } from ${JSON.stringify(pathToFileURL(resolve("onnx/ort.ts")).href)};`;

describe("onnxruntime telemetry", () => {
  it("is off for sessions created through onnx/ort.ts", async () => {
    expect(await leavesTelemetryStore(WRAPPER)).toBe(false);
  });

  // Without the switch the same sessions leave the store: the case above can fail, and if a
  // later onnxruntime drops its telemetry this says the switch can go.
  it("is on in onnxruntime-node imported directly, and where the user turns it on", async () => {
    const direct = `import { createRequire } from "node:module";\nconst ort = createRequire(${JSON.stringify(resolve("package.json"))})("onnxruntime-node");`;
    expect(await leavesTelemetryStore(direct)).toBe(true);
    expect(await leavesTelemetryStore(WRAPPER, { ORT_DISABLE_TELEMETRY: "0" })).toBe(true);
  });
});
