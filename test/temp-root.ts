/**
 * Vitest's global setup: every temporary directory the tests (and the processes they
 * start) make goes under one root, removed when the run ends. The tests write model
 * caches and registries of hundreds of megabytes; left in /tmp, a day of runs filled
 * the disk.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "evoflow-tests-"));
  // os.tmpdir() reads TMPDIR on each call, in the test workers and in every child process they start.
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
