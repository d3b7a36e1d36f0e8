/**
 * JUnit XML of a run, in the shape CI systems read (Jenkins, GitLab, GitHub reporters):
 * <testsuites> with one <testsuite> per test file and one <testcase> per case; a failed
 * expectation is a <failure>, a case or file that could not run an <error>. Times in seconds.
 */
import type { FileResult } from "./run";

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!)
    // XML 1.0 cannot hold most control characters, even escaped.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
const seconds = (ms: number) => (ms / 1000).toFixed(3);

export function junitXml(files: readonly FileResult[]): string {
  const count = (f: FileResult) => ({
    tests: f.error ? 1 : f.cases.length,
    failures: f.cases.filter((c) => !c.error && c.failures.length).length,
    errors: f.error ? 1 : f.cases.filter((c) => c.error).length,
  });
  const totals = files.map(count).reduce((a, b) => ({ tests: a.tests + b.tests, failures: a.failures + b.failures, errors: a.errors + b.errors }), { tests: 0, failures: 0, errors: 0 });
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="evoflow test" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" time="${seconds(files.reduce((s, f) => s + f.ms, 0))}">`,
  ];
  for (const f of files) {
    const n = count(f);
    const classname = escape(f.pipeline ?? f.file);
    lines.push(`  <testsuite name="${escape(f.file)}" tests="${n.tests}" failures="${n.failures}" errors="${n.errors}" skipped="0" time="${seconds(f.ms)}">`);
    if (f.error) lines.push(`    <testcase name="load" classname="${classname}" time="0"><error message="the test file is not valid">${escape(f.error)}</error></testcase>`);
    for (const c of f.cases) {
      const open = `    <testcase name="${escape(c.name)}" classname="${classname}" time="${seconds(c.ms)}"`;
      if (c.error) lines.push(`${open}><error message="the case could not run">${escape(c.error)}</error></testcase>`);
      else if (c.failures.length) lines.push(`${open}><failure message="${escape(`${c.failures.length} expectation${c.failures.length > 1 ? "s" : ""} failed`)}">${escape(c.failures.join("\n\n"))}</failure></testcase>`);
      else lines.push(`${open}/>`);
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>", "");
  return lines.join("\n");
}
