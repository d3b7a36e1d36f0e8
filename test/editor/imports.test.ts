/**
 * The editor's layering (DESIGN.md "Layout"): it imports the SDK and npm packages, and talks to
 * the runtime over HTTP, never through runtime/ (or nodes/, gpu-agent/) modules. Followed
 * through the SDK too, so an SDK module that reached into the runtime would fail here as well.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const ALLOWED = [path.join(ROOT, "editor") + path.sep, path.join(ROOT, "sdk") + path.sep];
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const full = path.join(dir, d.name);
    if (d.isDirectory()) return sourcesUnder(full);
    return /\.(ts|tsx)$/.test(d.name) && !/\.test\.tsx?$/.test(d.name) ? [full] : [];
  });
}

function resolveRelative(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, path.join(base, "index.ts")]) if (existsSync(candidate) && !candidate.endsWith(path.sep) && /\.(ts|tsx|css)$/.test(candidate)) return candidate;
  return base;
}

/** Every module the editor's sources reach by relative imports, with a bare import of `evoflow/...` other than the SDK reported as itself. */
function reached(): { file: string; by: string; spec: string }[] {
  const seen = new Set<string>();
  const found: { file: string; by: string; spec: string }[] = [];
  const queue = sourcesUnder(path.join(ROOT, "editor", "src"));
  for (const f of queue) seen.add(f);
  while (queue.length) {
    const file = queue.shift()!;
    if (!/\.(ts|tsx)$/.test(file)) continue;
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith("evoflow") && spec !== "evoflow/sdk") found.push({ file: spec, by: file, spec });
      if (!spec.startsWith(".")) continue;
      const target = resolveRelative(file, spec);
      found.push({ file: target, by: file, spec });
      if (!seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return found;
}

describe("the editor's imports", () => {
  it("reach only editor/ and sdk/ (the runtime is behind its HTTP API)", () => {
    const all = reached();
    expect(all.length).toBeGreaterThan(20);
    expect(all.some((r) => r.file.startsWith(ALLOWED[1]))).toBe(true);
    const outside = all.filter((r) => !ALLOWED.some((dir) => r.file.startsWith(dir))).map((r) => `${path.relative(ROOT, r.by)} imports "${r.spec}"`);
    expect(outside).toEqual([]);
  });

  it("would catch a runtime import", () => {
    // The same pattern on a line as the editor once had it.
    const line = 'import { rolloutSummary } from "../../runtime/cl/rollout-summary";\nimport type { X } from "../../runtime/envelope";';
    const specs = [...line.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]);
    expect(specs).toEqual(["../../runtime/cl/rollout-summary", "../../runtime/envelope"]);
  });
});
