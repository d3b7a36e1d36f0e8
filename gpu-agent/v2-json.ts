/**
 * Reads the JSON of a v2 inference request with its tensors' numbers read straight
 * from the bytes.
 *
 * Why not `JSON.parse` alone: it converts every number exactly to a double, which for
 * the 17-digit decimals clients send for float32 data (Python's `tolist()`,
 * JavaScript's `Array.from` of a Float32Array) costs ~55 ns a number: 43 µs for one
 * 784-pixel image, a third of a small model's whole request. The float32 tensor then
 * rounds those doubles away. Here the numbers of `inputs[i].data` are read in one pass
 * into doubles that are exact for up to 15 significant digits and otherwise within a
 * few units in the last place; `JsonNumbers.readInto` rounds them to float32 and
 * checks that the error could not change the result; for float64 data (unless every
 * number was read exactly) or an unclear case it reads the array with `JSON.parse`. The tensor is then
 * bit for bit what `JSON.parse` and a typed array would give, about 2.5 times as fast
 * (that image: 18 µs against 46).
 *
 * Everything that is not a number array under `inputs[i].data` is what `JSON.parse`
 * gives. Anything unexpected (bad JSON, a `__proto__` key) is handed to `JSON.parse`
 * whole, which gives the result or the error. Nesting deeper than `maxDepth` (64, as the
 * API's JSON bodies: runtime/json-depth.ts) is a JsonDepthError either way: the reader
 * counts its own depth, and text handed to `JSON.parse` is scanned first.
 */
import { checkJsonDepth, DEFAULT_MAX_JSON_DEPTH, JsonDepthError } from "../runtime/json-depth";

/** Exact powers of ten as doubles (10^22 is the largest). */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/**
 * Relative bound on an approximated value's error, beyond the exact double's own:
 * dropping digits after the 19th (< 1e-18), up to three roundings accumulating 19
 * digits (3.3e-16) and two by powers of ten (2.2e-16) make at most 5.6e-16.
 */
const APPROXIMATION_BOUND = 2e-15;

/** A JSON array of numbers from a request's bytes: approximations, and the text to read exactly. */
export class JsonNumbers {
  constructor(
    /**
     * Every number, exact when `exact`, otherwise within APPROXIMATION_BOUND of the exact
     * double. A plain array, not a Float64Array: typed arrays of this size live outside
     * V8's heap, and one per request made V8 run a major collection every 70 ms at 12,000
     * requests a second (external memory pressure).
     */
    private readonly approximations: number[],
    /** True if every number was converted exactly: up to 15 significant digits and a power of ten up to 22, or out of the approximation's range. */
    private readonly exact: boolean,
    /** Where the array's text, `[` to `]`, lies in the request. */
    private readonly source: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}

  get length(): number {
    return this.approximations.length;
  }

  /** The numbers, exactly as `JSON.parse` gives them. */
  numbers(): number[] {
    return this.exact ? this.approximations : (JSON.parse(this.source.toString("latin1", this.start, this.end)) as number[]);
  }

  /** As JSON, the numbers (an error message may quote data). */
  toJSON(): number[] {
    return this.numbers();
  }

  /** Writes the numbers, rounded as a typed array rounds `numbers()`, into `out` from `offset`. */
  readInto(out: Float32Array | Float64Array, offset: number): void {
    const values = this.approximations;
    if (this.exact) return out.set(values, offset);
    if (out instanceof Float32Array) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const margin = v * APPROXIMATION_BOUND;
        // Both ends of the interval that holds the exact value round alike: so does the exact value.
        // (v itself is stored: -0 minus a margin of -0 is +0.)
        if (Math.fround(v - margin) !== Math.fround(v + margin)) return out.set(this.numbers(), offset);
        out[offset + i] = v;
      }
      return;
    }
    out.set(this.numbers(), offset);
  }
}

/** A shape the fast reader does not take; JSON.parse reads the whole text instead. */
class NotFast extends Error {}
const notFast = new NotFast();

const enum Place {
  Other,
  Root,
  Inputs,
  Input,
  Data,
}

/**
 * The value of four ASCII digits in a little-endian 32-bit word (the first digit in the
 * low byte), or -1 if any byte is not a digit: SWAR, a quarter of the loads and of the
 * loop's turns of reading them one by one, which is most of the time of a 17-digit number.
 */
function fourDigits(word: number): number {
  // A digit is 0x30-0x39: its high nibble is 3, and still 3 after adding 6.
  if (((word & 0xf0f0f0f0) ^ 0x30303030) | (((word + 0x06060606) & 0xf0f0f0f0) ^ 0x30303030)) return -1;
  let x = word & 0x0f0f0f0f;
  x = (Math.imul(x, 10) + (x >>> 8)) & 0x00ff00ff; // two 2-digit numbers
  return (Math.imul(x, 100) + (x >>> 16)) & 0xffff;
}

class Reader {
  pos = 0;
  private depth = 0;
  private readonly view: DataView;
  constructor(
    private readonly b: Buffer,
    private readonly maxDepth: number,
  ) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** The next byte that is not JSON whitespace. */
  private peek(): number {
    const b = this.b;
    let c = b[this.pos];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++this.pos];
    return c;
  }

  document(): unknown {
    const value = this.value(Place.Root);
    if (this.peek() !== undefined) throw notFast;
    return value;
  }

  private value(place: Place): unknown {
    const c = this.peek();
    if (c === 0x7b || c === 0x5b) {
      if (++this.depth > this.maxDepth) throw new JsonDepthError(this.maxDepth, this.pos);
      const value = c === 0x7b ? this.object(place) : this.array(place);
      this.depth--;
      return value;
    }
    if (c === 0x22) return this.string();
    if (c === 0x74) return this.literal("true", true);
    if (c === 0x66) return this.literal("false", false);
    if (c === 0x6e) return this.literal("null", null);
    return this.number();
  }

  private object(place: Place): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.pos++;
    if (this.peek() === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      if (this.peek() !== 0x22) throw notFast;
      const key = this.string();
      // Assigning "__proto__" would set the prototype, where JSON.parse makes an own property.
      if (key === "__proto__") throw notFast;
      if (this.peek() !== 0x3a) throw notFast;
      this.pos++;
      const inner = place === Place.Root && key === "inputs" ? Place.Inputs : place === Place.Input && key === "data" ? Place.Data : Place.Other;
      out[key] = this.value(inner);
      const c = this.peek();
      this.pos++;
      if (c === 0x7d) return out;
      if (c !== 0x2c) throw notFast;
    }
  }

  private array(place: Place): unknown[] | JsonNumbers {
    const start = this.pos;
    this.pos++;
    const first = this.peek();
    if (place === Place.Data && (first === 0x2d || (first >= 0x30 && first <= 0x39))) {
      const numbers = this.numberRun(start);
      if (numbers) return numbers;
      this.pos = start + 1; // not numbers only: read it as any array
    }
    const out: unknown[] = [];
    if (this.peek() === 0x5d) {
      this.pos++;
      return out;
    }
    const inner = place === Place.Inputs ? Place.Input : place === Place.Data ? Place.Data : Place.Other;
    for (;;) {
      out.push(this.value(inner));
      const c = this.peek();
      this.pos++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) throw notFast;
    }
  }

  /** Numbers up to the closing `]`, or undefined (position anywhere) if something else comes first. */
  private numberRun(start: number): JsonNumbers | undefined {
    const { b, view } = this;
    const fourBefore = b.length - 4;
    let pos = this.pos;
    const values: number[] = [];
    let exact = true;
    for (;;) {
      let c = b[pos];
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++pos];
      const token = pos;
      const negative = c === 0x2d;
      if (negative) c = b[++pos];
      // The first 19 significant digits make the mantissa; later ones only move the decimal point.
      let mantissa = 0;
      let digits = 0;
      let exponent = 0;
      if (c === 0x30) c = b[++pos];
      else if (c >= 0x31 && c <= 0x39) {
        do {
          if (digits < 19) {
            mantissa = mantissa * 10 + (c - 0x30);
            digits++;
          } else exponent++;
          c = b[++pos];
        } while (c >= 0x30 && c <= 0x39);
      } else return undefined;
      if (c === 0x2e) {
        c = b[++pos];
        if (!(c >= 0x30 && c <= 0x39)) return undefined;
        do {
          // Past the first significant digit, four at a time while they fit in the 19.
          if (mantissa !== 0 && digits <= 15 && pos <= fourBefore) {
            const four = fourDigits(view.getUint32(pos, true));
            if (four >= 0) {
              mantissa = mantissa * 1e4 + four;
              digits += 4;
              exponent -= 4;
              pos += 4;
              c = b[pos];
              continue;
            }
          }
          if (digits < 19) {
            mantissa = mantissa * 10 + (c - 0x30);
            if (mantissa !== 0) digits++; // leading zeros are not significant
            exponent--;
          }
          c = b[++pos];
        } while (c >= 0x30 && c <= 0x39);
      }
      if (c === 0x65 || c === 0x45) {
        c = b[++pos];
        const negativeExponent = c === 0x2d;
        if (negativeExponent || c === 0x2b) c = b[++pos];
        if (!(c >= 0x30 && c <= 0x39)) return undefined;
        let e = 0;
        do {
          if (e < 1e6) e = e * 10 + (c - 0x30);
          c = b[++pos];
        } while (c >= 0x30 && c <= 0x39);
        exponent += negativeExponent ? -e : e;
      }
      let value: number;
      if (exponent >= 0 && exponent <= 22) value = mantissa * POW10[exponent];
      else if (exponent < 0 && exponent >= -22) value = mantissa / POW10[-exponent];
      else if (exponent < 0 && exponent >= -44) value = mantissa / POW10[22] / POW10[-exponent - 22];
      // Past the range of two exact powers of ten (rare in tensors): converted exactly.
      else value = Math.abs(Number(b.toString("latin1", token, pos)));
      // Clinger's fast path: an exact mantissa below 2^53 and one exact power of ten round once, correctly.
      if (digits > 15 || (exponent < -22 && exponent >= -44)) exact = false;
      values.push(negative ? -value : value);
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++pos];
      pos++;
      if (c === 0x5d) break;
      if (c !== 0x2c) return undefined;
    }
    this.pos = pos;
    return new JsonNumbers(values, exact, this.b, start, pos);
  }

  private string(): string {
    const b = this.b;
    const start = this.pos + 1;
    let pos = start;
    let plain = true;
    for (;;) {
      const c = b[pos];
      if (c === 0x22) break;
      if (c === undefined || c < 0x20) throw notFast;
      if (c === 0x5c) {
        plain = false;
        pos++;
      } else if (c >= 0x80) plain = false;
      pos++;
    }
    this.pos = pos + 1;
    return plain ? b.toString("latin1", start, pos) : (JSON.parse(b.toString("utf8", start - 1, pos + 1)) as string);
  }

  private literal(word: string, value: boolean | null): boolean | null {
    for (let i = 0; i < word.length; i++) if (this.b[this.pos + i] !== word.charCodeAt(i)) throw notFast;
    this.pos += word.length;
    return value;
  }

  /**
   * A number outside `data` (a shape, a parameter): checked by JSON's grammar, converted
   * exactly. numberRun keeps its own scan inline: as a method shared with this one it
   * made reading an image 20% slower (not inlined: a call and two field writes a number).
   */
  private number(): number {
    const b = this.b;
    const start = this.pos;
    let pos = start;
    if (b[pos] === 0x2d) pos++;
    pos = b[pos] === 0x30 ? pos + 1 : this.digitsFrom(pos);
    if (b[pos] === 0x2e) pos = this.digitsFrom(pos + 1);
    if (b[pos] === 0x65 || b[pos] === 0x45) pos = this.digitsFrom(b[pos + 1] === 0x2b || b[pos + 1] === 0x2d ? pos + 2 : pos + 1);
    this.pos = pos;
    return Number(b.toString("latin1", start, pos));
  }

  /** The end of one or more digits from `at`. */
  private digitsFrom(at: number): number {
    let end = at;
    while (this.b[end] >= 0x30 && this.b[end] <= 0x39) end++;
    if (end === at) throw notFast;
    return end;
  }
}

/**
 * Parses an inference request's JSON: the result of `JSON.parse`, except that the
 * number arrays under `inputs[i].data` (flat, or the rows of nested data) are
 * `JsonNumbers`. Throws JSON.parse's own SyntaxError for text that is not JSON, JsonDepthError for nesting deeper than `maxDepth`.
 */
export function parseInferRequestJson(bytes: Buffer, maxDepth = DEFAULT_MAX_JSON_DEPTH): unknown {
  try {
    return new Reader(bytes, maxDepth).document();
  } catch (err) {
    // NotFast, or a RangeError from a limit set deeper than the stack. The reader may have
    // stopped before a deep part: the whole text is checked first.
    if (!(err instanceof NotFast) && !(err instanceof RangeError)) throw err;
    const text = bytes.toString("utf8");
    checkJsonDepth(text, maxDepth);
    return JSON.parse(text);
  }
}
