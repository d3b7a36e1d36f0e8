/**
 * The examples in the detectors' doc comments are run, River-style: each
 * ```ts block after `@example` is executed and what it prints must equal the
 * `// ` comment lines that end the block.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { format } from "node:util";
import { describe, expect, it, vi } from "vitest";

const DRIFT = resolve(__dirname, "../../nodes/drift");
const dir = mkdtempSync(join(tmpdir(), "evoflow-doc-examples-"));

function examples(file: string): { code: string; expected: string[] }[] {
  const text = readFileSync(join(DRIFT, file), "utf8");
  const found: { code: string; expected: string[] }[] = [];
  for (const match of text.matchAll(/@example\n \* ```ts\n([\s\S]*?) \* ```\n/g)) {
    const lines = match[1].split("\n").filter((l) => l !== "").map((l) => l.replace(/^ \* ?/, ""));
    let end = lines.length;
    while (end > 0 && lines[end - 1].startsWith("// ")) end--;
    found.push({ code: lines.slice(0, end).join("\n"), expected: lines.slice(end).map((l) => l.slice(3)) });
  }
  return found;
}

const cases = readdirSync(DRIFT)
  .filter((f) => f.endsWith(".ts"))
  .flatMap((file) => examples(file).map((example, i) => [`${file} #${i + 1}`, file, example] as const))
  .filter(([, , example]) => example.expected.length > 0);

describe("doc-comment examples print what they say", () => {
  it("every detector and test file has one", () => {
    const files = new Set(cases.map(([, file]) => file));
    for (const f of ["adwin.ts", "ddm.ts", "eddm.ts", "hddm-a.ts", "kswin.ts", "page-hinkley.ts", "ks.ts", "chi-square.ts", "psi.ts", "wasserstein.ts", "mmd.ts", "corrections.ts", "random.ts"])
      expect(files).toContain(f);
  });

  it.each(cases)("%s", async (name, _file, { code, expected }) => {
    const path = join(dir, `${name.replace(/[^\w]/g, "_")}.ts`);
    writeFileSync(path, code.replace(/from "\.\/([\w-]+)"/g, (_, m: string) => `from ${JSON.stringify(join(DRIFT, m))}`));
    const printed: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void printed.push(format(...args)));
    try {
      await import(path);
    } finally {
      log.mockRestore();
    }
    expect(printed).toEqual(expected);
  });
});
