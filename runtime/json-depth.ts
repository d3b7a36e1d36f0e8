/**
 * A nesting-depth limit for JSON text, checked before it is parsed. JSON.parse itself
 * takes a 100,000-deep body, but everything after it that recurses (JSON.stringify of
 * a tap or dead letter, zod, JSONata, a node's own walk) overflows the stack on it. Triton
 * refuses depth 120 and takes 50; 64 here. The scan is linear and makes no recursion:
 * a regular expression finds the next bracket or quote natively, and a string is
 * skipped with indexOf to its closing quote, so a 16 MiB body of numbers costs a few
 * milliseconds and a 100,000-deep one stops at its 65th bracket.
 */

export const DEFAULT_MAX_JSON_DEPTH = 64;

/** JSON nested deeper than allowed: the client's fault, HTTP 400. */
export class JsonDepthError extends Error {
  override name = "JsonDepthError";
  readonly statusCode = 400;
  constructor(readonly maxDepth: number, readonly at: number) {
    super(`JSON is nested deeper than ${maxDepth} levels (at offset ${at})`);
  }
}

const STRUCTURE = /[[\]{}"]/g;

/** Throws JsonDepthError when `text` nests arrays and objects deeper than `maxDepth`. Text that is not JSON is left to the parser to refuse. */
export function checkJsonDepth(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): void {
  const re = new RegExp(STRUCTURE);
  let depth = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(text))) {
    const at = match.index;
    const c = text.charCodeAt(at);
    if (c === 0x22) {
      const end = closingQuote(text, at);
      if (end < 0) return; // unterminated string: not JSON
      re.lastIndex = end + 1;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new JsonDepthError(maxDepth, at);
    } else depth--;
  }
}

/** The index of the quote that closes the string opening at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  let end = open;
  for (;;) {
    end = text.indexOf('"', end + 1);
    if (end < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
}
