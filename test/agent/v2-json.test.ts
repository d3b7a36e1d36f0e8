import { describe, expect, it } from "vitest";
import { tensorFromJson } from "../../gpu-agent/tensors";
import { JsonNumbers, parseInferRequestJson } from "../../gpu-agent/v2-json";
import { seededRandom } from "../../sdk/random";
import { JsonDepthError } from "../../runtime/json-depth";

/** The tensor `JSON.parse` and a typed array give, and the one the fast reader gives, for one input's data text. */
function bothWays(dataText: string, datatype: "FP32" | "FP64", shape?: number[]) {
  const text = `{"inputs":[{"name":"x","datatype":"${datatype}","shape":${JSON.stringify(shape ?? [JSON.parse(dataText).flat(Infinity).length])},"data":${dataText}}]}`;
  const viaJsonParse = JSON.parse(text).inputs[0];
  const fast = (parseInferRequestJson(Buffer.from(text)) as { inputs: typeof viaJsonParse[] }).inputs[0];
  return { fast, expected: tensorFromJson(viaJsonParse, "x").data, actual: tensorFromJson(fast, "x").data };
}

/** The exact decimal expansion of a double. */
function exactDecimal(x: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const biased = Number(bits >> 52n);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  const sign = x < 0 ? "-" : "";
  if (exponent >= 0) return sign + (mantissa << BigInt(exponent)).toString();
  // m / 2^k = m * 5^k / 10^k
  const digits = (mantissa * 5n ** BigInt(-exponent)).toString().padStart(-exponent + 1, "0");
  return `${sign}${digits.slice(0, exponent)}.${digits.slice(exponent)}`.replace(/\.?0+$/, "");
}

/** The float32 after `v`, away from zero. */
const nextFloat32 = (v: number) => new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([v]).buffer)[0] + 1]).buffer)[0];
/** The double `steps` units in the last place from `x`, away from zero for positive steps. */
function nextDouble(x: number, steps: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigInt64(0, view.getBigInt64(0) + BigInt(steps));
  return view.getFloat64(0);
}

const bitsOf = (a: Float32Array | Float64Array) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

describe("parseInferRequestJson: numbers of tensor data", () => {
  const rand = seededRandom(7);
  const f32 = Float32Array.from({ length: 4000 }, (_, i) => {
    const r = rand() * 2 - 1;
    // magnitudes from subnormal floats to the largest, and plain pixels
    return i % 4 === 0 ? r : i % 4 === 1 ? r * 255 : r * 10 ** Math.round(rand() * 76 - 38);
  });
  f32.set([0, -0, 1, -1, 3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38, 0.1, 16777217]);

  const cases: Record<string, string[]> = {
    "float32 values as JavaScript writes their doubles (17 digits)": Array.from(f32, String),
    "float32 values at float32's shortest (up to 9 digits)": Array.from(f32, (v) => String(Number(v.toPrecision(9)))),
    "short decimals": Array.from(f32, (v) => v.toFixed(3)),
    "exponent forms": Array.from(f32, (v) => v.toExponential(Math.round(Math.abs(v) * 1000) % 20).replace("e+", (Math.abs(v) * 1e6) % 2 < 1 ? "E" : "e+")),
    "integers, some past 2^53": Array.from({ length: 2000 }, (_, i) => `${i % 2 ? "-" : ""}${1 + Math.floor(rand() * 9)}${Array.from({ length: i % 22 }, () => Math.floor(rand() * 10)).join("")}`),
    // Midpoints between neighbouring float32s and the doubles a few units from them, as
    // JavaScript writes them (17 digits), and exactly: an approximation a few units off
    // would round these to the wrong float32, so they must be read exactly.
    "around midpoints between float32s": Array.from(f32.subarray(0, 1000), (v, i) => {
      const middle = (v + nextFloat32(v)) / 2;
      if (!Number.isFinite(middle)) return String(v);
      return String(nextDouble(middle, (i % 7) - 3));
    }),
    "exact decimals of midpoints between float32s (up to 150 digits)": Array.from(f32.subarray(0, 1000), (v) => exactDecimal((v + nextFloat32(v)) / 2)),
    "long decimals (25 digits), tiny and huge exponents": Array.from({ length: 2000 }, (_, i) => {
      const digits = Array.from({ length: 25 }, () => Math.floor(rand() * 10)).join("");
      return `${i % 2 ? "-" : ""}0.${digits}e${Math.round(rand() * 100 - 50)}`;
    }),
  };

  for (const [name, numbers] of Object.entries(cases)) {
    it(`${name}: FP32 and FP64 tensors are bit for bit what JSON.parse gives`, () => {
      const text = `[${numbers.join(", ")}]`;
      for (const datatype of ["FP32", "FP64"] as const) {
        const { fast, expected, actual } = bothWays(text, datatype);
        expect(fast.data).toBeInstanceOf(JsonNumbers);
        expect(bitsOf(actual as Float32Array)).toEqual(bitsOf(expected as Float32Array));
      }
    });
  }

  it("nested rows (numpy's tolist of a batch) give the same tensor", () => {
    const rows = Array.from({ length: 4 }, (_, r) => `[${Array.from(f32.subarray(r * 7, r * 7 + 7), String).join(",")}]`);
    const { fast, expected, actual } = bothWays(`[${rows.join(",\n ")}]`, "FP32", [4, 7]);
    expect((fast.data as unknown[]).every((row) => row instanceof JsonNumbers)).toBe(true);
    expect(bitsOf(actual as Float32Array)).toEqual(bitsOf(expected as Float32Array));
  });

  it("integer and boolean tensors read their data exactly, and bad elements get the same error as before", () => {
    const text = `{"inputs":[{"name":"i","datatype":"INT64","shape":[3],"data":[1, -20, 9007199254740991]},{"name":"b","datatype":"BOOL","shape":[2],"data":[true,0]},{"name":"bad","datatype":"FP32","shape":[2],"data":[[1],["x"]]}]}`;
    const fast = parseInferRequestJson(Buffer.from(text)) as { inputs: Parameters<typeof tensorFromJson>[0][] };
    const plain = JSON.parse(text) as typeof fast;
    expect(tensorFromJson(fast.inputs[0], "i")).toEqual(tensorFromJson(plain.inputs[0], "i"));
    expect(tensorFromJson(fast.inputs[1], "b")).toEqual(tensorFromJson(plain.inputs[1], "b"));
    expect(() => tensorFromJson(fast.inputs[2], "bad")).toThrow('bad: FP32 element 1 is "x", expected a number');
    expect(() => tensorFromJson(plain.inputs[2], "bad")).toThrow('bad: FP32 element 1 is "x", expected a number');
  });
});

describe("parseInferRequestJson: everything else is JSON.parse's", () => {
  const documents = [
    `{"id":"r\\u00e9q \\"1\\"\\n","parameters":{"binary_data_output":true,"data":[1,2],"ünï":"cödé ✓"},"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0.5,-1e3,2E-2],"parameters":{"k":null}}],"outputs":[{"name":"y"}]}`,
    ` \t\r\n{ "inputs" : [ { "data" : [ ] , "name" : "e" } , { "data" : [ [ 1 , 2 ] , [ 3 , 4 ] ] } , { "data" : [1, "mixed", true, [2.5]] } ] } \n`,
    `{"inputs":[{"data":[1],"data":[2,3]}],"inputs2":{"10":1,"2":2,"a":3},"x":[-0,0.0,1e400,-1e-400,123456789012345678901234567890]}`,
    `{"__proto__":{"polluted":true},"inputs":[]}`,
    `[1,2,{"inputs":[{"data":[1,2]}]}]`,
    `"just a string"`,
  ];
  /** The value with its number runs as the arrays JSON.parse makes. */
  const plain = (v: unknown): unknown =>
    v instanceof JsonNumbers ? v.numbers() : Array.isArray(v) ? v.map(plain) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
  it.each(documents.map((d, i) => [i, d]))("document %i", (_, text) => {
    const fast = parseInferRequestJson(Buffer.from(text));
    expect(plain(fast)).toEqual(JSON.parse(text));
    expect(Object.getPrototypeOf(fast)).toBe(Object.getPrototypeOf(JSON.parse(text)));
  });

  it("nesting deeper than the limit (64 unless given) is a JsonDepthError", () => {
    expect(() => parseInferRequestJson(Buffer.from(`{"a":${"[".repeat(64)}${"]".repeat(64)}}`))).toThrow(JsonDepthError);
    expect(parseInferRequestJson(Buffer.from(`{"a":${"[".repeat(63)}${"]".repeat(63)}}`))).toBeTruthy();
  });

  it("nesting deeper than the stack, where the limit allows it, is read by JSON.parse", () => {
    const { a } = parseInferRequestJson(Buffer.from(`{"a":${"[".repeat(50000)}${"]".repeat(50000)}}`), 100_000) as { a: unknown[] };
    let depth = 1;
    for (let array = a; array.length > 0; array = array[0] as unknown[]) depth++;
    expect(depth).toBe(50000);
  });

  it("text that is not JSON gets JSON.parse's own error", () => {
    const bad = [`{"inputs":[{"data":[1,2,]}]}`, `{"inputs":[{"data":[01]}]}`, `{"inputs":[{"data":[1.]}]}`, `{"inputs":[{"data":[.5]}]}`, `{"inputs":[{"data":[1e]}]}`,
      `{"inputs":[{"data":[+1]}]}`, `{"inputs":[{"data":[1 2]}]}`, `{"inputs":[{"data":[0.1234:567]}]}`, `{"inputs":[{"data":[0.12345?78]}]}`, `{"a":1}x`, `{"a":"tab\there"}`, `{"a":tru}`, `{"a" 1}`, `{'a':1}`, `\ufeff{}`, ``, `{"a":"unterminated`];
    for (const text of bad) {
      let expected: unknown;
      try {
        JSON.parse(text);
      } catch (err) {
        expected = err;
      }
      expect(expected, text).toBeInstanceOf(SyntaxError);
      expect(() => parseInferRequestJson(Buffer.from(text)), text).toThrow((expected as Error).message);
    }
  });
});
