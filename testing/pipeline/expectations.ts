/**
 * Judging what a case observed against its expectations. Each failure is a readable text: what
 * was expected, and for payloads a line diff (`diff`, jsdiff) of expected against actual JSON.
 * Before diffing, keys are sorted and every actual number within the tolerance of the expected
 * one is replaced by it, so the diff shows only what really differs.
 */
import { diffLines } from "diff";
import { DEFAULT_MAX_DEPTH, DEFAULT_TIMEOUT_MS, LimitedJsonata } from "../../runtime/user-code/limited-jsonata";
import type { DeadLetter } from "../../runtime/transport/transport";
import { isDeadLetterExpectation, type DeadLetterExpectation, type Expectation, type PortExpectation } from "./test-file";

/** Payloads as JSON shows them (typed arrays as number arrays), keys sorted. */
export function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = plain((value as Record<string, unknown>)[key]);
    return out;
  }
  return typeof value === "bigint" ? value.toString() : value;
}

/** `actual` with each number within `tolerance` of the number at the same place in `expected` replaced by that one. */
function towards(actual: unknown, expected: unknown, tolerance: number): unknown {
  if (typeof actual === "number" && typeof expected === "number") return Math.abs(actual - expected) <= tolerance ? expected : actual;
  if (Array.isArray(actual) && Array.isArray(expected)) return actual.map((a, i) => towards(a, expected[i], tolerance));
  if (actual && expected && typeof actual === "object" && typeof expected === "object" && !Array.isArray(actual) && !Array.isArray(expected)) {
    const e = expected as Record<string, unknown>;
    return Object.fromEntries(Object.entries(actual).map(([k, v]) => [k, towards(v, e[k], tolerance)]));
  }
  return actual;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2) ?? "undefined"}\n`;

/** A unified line diff, `-` expected and `+` actual, with every line shown. */
export function lineDiff(expected: unknown, actual: unknown): string {
  return diffLines(json(expected), json(actual))
    .flatMap((part) => part.value.replace(/\n$/, "").split("\n").map((line) => `${part.added ? "+" : part.removed ? "-" : " "} ${line}`))
    .join("\n");
}

function payloadsProblem(e: PortExpectation, actual: unknown[]): string | undefined {
  const expected = plain(e.payloads) as unknown[];
  if (e.order === "exact") {
    const near = towards(actual, expected, e.tolerance);
    if (json(near) === json(expected)) return undefined;
    return `${e.at}: payloads differ (- expected, + actual${e.tolerance ? `, tolerance ${e.tolerance}` : ""}):\n${lineDiff(expected, near)}`;
  }
  // Any order: each expected payload takes the first equal actual one not yet taken; the rest are the difference.
  const left = [...actual];
  const missing = expected.filter((want) => {
    const at = left.findIndex((a) => json(towards(a, want, e.tolerance)) === json(want));
    if (at < 0) return true;
    left.splice(at, 1);
    return false;
  });
  if (missing.length === 0 && left.length === 0) return undefined;
  return `${e.at}: payloads differ in any order (- expected and not seen, + seen and not expected):\n${lineDiff(missing, left)}`;
}

async function predicateProblems(e: PortExpectation, actual: unknown[]): Promise<string[]> {
  const problems: string[] = [];
  const limits = { timeoutMs: DEFAULT_TIMEOUT_MS, maxDepth: DEFAULT_MAX_DEPTH };
  const holds = async (expr: LimitedJsonata, payload: unknown) => (await expr.evaluate(payload)) === true;
  for (const [kind, source] of [["every", e.every], ["some", e.some]] as const) {
    if (source === undefined) continue;
    let expr: LimitedJsonata;
    try {
      expr = new LimitedJsonata(source, limits);
    } catch (err) {
      problems.push(`${e.at}: ${kind} "${source}" is not JSONata: ${(err as Error).message}`);
      continue;
    }
    try {
      if (kind === "every") {
        for (const [i, payload] of actual.entries())
          if (!(await holds(expr, payload))) {
            problems.push(`${e.at}: payload ${i} does not satisfy ${source}:\n${json(payload).trimEnd()}`);
            break;
          }
      } else {
        let found = false;
        for (const payload of actual) if ((found = await holds(expr, payload))) break;
        if (!found) problems.push(`${e.at}: none of the ${actual.length} payloads satisfies ${source}`);
      }
    } catch (err) {
      problems.push(`${e.at}: ${kind} "${source}" failed: ${(err as Error).message}`);
    }
  }
  return problems;
}

async function portProblems(e: PortExpectation, actual: unknown[]): Promise<string[]> {
  const problems: string[] = [];
  if (e.nothing && actual.length > 0) problems.push(`${e.at}: expected nothing, saw ${actual.length} message${actual.length > 1 ? "s" : ""}:\n${lineDiff([], actual)}`);
  if (e.count !== undefined && actual.length !== e.count) problems.push(`${e.at}: expected ${e.count} message${e.count === 1 ? "" : "s"}, saw ${actual.length}`);
  if (e.payloads !== undefined) {
    const problem = payloadsProblem(e, actual);
    if (problem) problems.push(problem);
  }
  return [...problems, ...(await predicateProblems(e, actual))];
}

function deadLetterProblems(e: DeadLetterExpectation, letters: readonly DeadLetter[]): string[] {
  const { node, reason, count } = e.deadLetters;
  const pattern = reason === undefined ? undefined : new RegExp(reason);
  const matching = letters.filter((l) => (node === undefined || l.node === node) && (!pattern || pattern.test(l.reason)));
  if (count === undefined ? matching.length > 0 : matching.length === count) return [];
  const what = `dead letters${node ? ` of node "${node}"` : ""}${reason ? ` with a reason matching /${reason}/` : ""}`;
  const seen = letters.map((l) => `  [${l.node}.${l.port}] ${l.reason}`).join("\n") || "  none";
  return [`${what}: expected ${count ?? "at least 1"}, saw ${matching.length}; all dead letters:\n${seen}`];
}

/** Every failed expectation, as text; none when the case passed. */
export async function judge(expectations: readonly Expectation[], payloadsAt: (ref: string) => unknown[], letters: readonly DeadLetter[]): Promise<string[]> {
  const problems: string[] = [];
  for (const e of expectations) {
    if (isDeadLetterExpectation(e)) problems.push(...deadLetterProblems(e, letters));
    else problems.push(...(await portProblems(e, payloadsAt(e.at).map(plain))));
  }
  return problems;
}
