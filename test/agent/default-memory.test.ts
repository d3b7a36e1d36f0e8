/**
 * `evoflow agent` without `--memory`: it picks half of the memory available at start and says
 * so once, and that is the budget it then runs with (as /api/agent reports it).
 */
import { spawn } from "node:child_process";
import { totalmem } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatSize } from "../../gpu-agent/sizes";
import { telemetryTestEnv, tempDir } from "./helpers";

const root = join(import.meta.dirname, "../..");

describe("evoflow agent without --memory", () => {
  it("chooses half of the available memory, prints it once with the reason, and runs with it", async () => {
    const child = spawn(process.execPath, [join(root, "bin/evoflow.js"), "agent", "--port", "0"], { cwd: tempDir("agent-cwd"), env: telemetryTestEnv(tempDir("agent-home")), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.once("exit", (code) => reject(new Error(`agent exited (${code}): ${out}`)));
      });
      const lines = out.split("\n").filter((l) => /memory budget/.test(l));
      expect(lines).toHaveLength(1);
      const m = /^memory budget (\S+), half of the (\S+) available at start \((free memory; no cgroup limit|within the cgroup's \S+ limit)\); --memory sets another$/.exec(lines[0]);
      expect(m, lines[0]).not.toBeNull();

      const status = (await (await fetch(`${url}/api/agent`)).json()) as { memoryBytes: number };
      expect(formatSize(status.memoryBytes)).toBe(m![1]);
      expect(status.memoryBytes % 1e6).toBe(0);
      expect(status.memoryBytes).toBeGreaterThan(0);
      expect(status.memoryBytes).toBeLessThanOrEqual(totalmem() / 2);
      expect(out).toContain(`memory ${m![1]})`);
    } finally {
      child.kill("SIGTERM");
    }
  }, 60_000);
});
