/**
 * A nesting-depth limit for JSON text, checked before it is parsed. JSON.parse itself
 * takes a 100,000-deep body, but everything after it that recurses (JSON.stringify of
 * a tap or dead letter, zod, JSONata, a node's own walk) overflows the stack on it. Triton
 * refuses depth 120 and takes 50; 64 here. The check is linear and makes no recursion.
 * Most bodies hold fewer brackets than the limit in all, which indexOf counts at memchr
 * speed (a 15 KB image request: ~1 µs; JSON.parse takes 140); only a body with more is
 * scanned character by character, strings skipped with indexOf to their closing quote, so a
 * 100,000-deep one stops at its 65th bracket.
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

/** Throws JsonDepthError when `text` nests arrays and objects deeper than `maxDepth`. Text that is not JSON is left to the parser to refuse. */
export function checkJsonDepth(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): void {
  // Brackets inside strings count too here: more is only a reason to look closer.
  if (fewerThan(text, "[", "{", maxDepth + 1)) return;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = closingQuote(text, i);
      if (i < 0) return; // unterminated string: not JSON
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new JsonDepthError(maxDepth, i);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** Whether `text` holds fewer than `limit` of the two characters together. */
function fewerThan(text: string, a: string, b: string, limit: number): boolean {
  let n = 0;
  for (let at = text.indexOf(a); at >= 0 && n < limit; at = text.indexOf(a, at + 1)) n++;
  for (let at = text.indexOf(b); at >= 0 && n < limit; at = text.indexOf(b, at + 1)) n++;
  return n < limit;
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
