/**
 * Payloads through a real python3 worker and back (python.function returning what it got):
 * tensors of every datatype the agent's OIP routes support arrive as numpy arrays of that dtype
 * and shape, and come back bit for bit (NaN payloads, -0, extremes, denormals, empty and 0-d
 * shapes, unicode strings); bytes arrive as `bytes`; records as dicts (a Date as its JSON string).
 */
import { afterEach, describe, expect, it } from "vitest";
import { V2_DATATYPE } from "../../gpu-agent/tensors";
import { createPythonWorkers } from "../../python/pool";
import { provide, loadNode, type TestNode } from "../../testing";
import { DTYPES, type DType, type Tensor } from "../../sdk";
import { python } from "../../nodes/services";
import { builtin } from "../nodes/builtin";

/** The interpreter python3, or EVOFLOW_PYTHON when set (as the runtime takes it), so the tests run against either. */
const workers = () => createPythonWorkers({ interpreter: process.env.EVOFLOW_PYTHON || undefined });

let node: TestNode | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const bits = (t: Tensor) => (t.dtype === "string" ? t.data : Buffer.from((t.data as ArrayBufferView).buffer, (t.data as ArrayBufferView).byteOffset, (t.data as ArrayBufferView).byteLength).toString("hex"));

/** Float bit patterns a JSON number list would lose: a NaN with a payload, -0, infinities, the smallest denormal. */
const f32 = new Float32Array(new Uint32Array([0x7fc00001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000]).buffer);
const f64 = new Float64Array(new BigUint64Array([0x7ff8000000000001n, 0x8000000000000000n, 0x0000000000000001n, 0x7fefffffffffffffn]).buffer);

const samples: Record<DType, Tensor> = {
  float32: { dtype: "float32", shape: [2, 3], data: f32 },
  float64: { dtype: "float64", shape: [4], data: f64 },
  int8: { dtype: "int8", shape: [3], data: new Int8Array([-128, 0, 127]) },
  int16: { dtype: "int16", shape: [3], data: new Int16Array([-32768, 1, 32767]) },
  int32: { dtype: "int32", shape: [1, 3], data: new Int32Array([-2147483648, -1, 2147483647]) },
  int64: { dtype: "int64", shape: [3], data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]) },
  uint8: { dtype: "uint8", shape: [0, 4], data: new Uint8Array(0) },
  uint16: { dtype: "uint16", shape: [2], data: new Uint16Array([0, 65535]) },
  uint32: { dtype: "uint32", shape: [], data: new Uint32Array([4294967295]) },
  bool: { dtype: "bool", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
  string: { dtype: "string", shape: [2, 2], data: ["", "café ☕", "a\u0000b", "line\nbreak"] },
};

const NUMPY_NAME: Record<DType, string> = {
  float32: "float32", float64: "float64", int8: "int8", int16: "int16", int32: "int32", int64: "int64",
  uint8: "uint8", uint16: "uint16", uint32: "uint32", bool: "bool", string: "object",
};

const identity = `
import numpy as np
def process(payload, ctx):
    seen = {k: [str(v.dtype), list(v.shape), type(v).__name__] for k, v in payload["tensors"].items()}
    return {**payload, "seen": seen, "blob_type": type(payload["blob"]).__name__}
`;

describe("tensors through a Python worker", () => {
  it("covers every dtype the agent's OIP routes carry", () => {
    expect(Object.keys(samples).sort()).toEqual([...DTYPES].sort());
    expect(Object.keys(V2_DATATYPE).sort()).toEqual([...DTYPES].sort());
  });

  it("arrive as numpy arrays with dtype and shape, and round-trip bit-exact; bytes as bytes, records as dicts", async () => {
    node = await loadNode(builtin("python.function"), {
      config: { code: identity },
      grants: ["exec"],
      services: [provide(python, workers())],
    });
    const blob = new Uint8Array([0, 255, 10, 13]);
    await node.send("in", { tensors: samples, blob, label: "x", n: 3.5, when: new Date(0) });
    expect(node.deadLetters()).toEqual([]);
    const [out] = node.payloads<{ tensors: Record<string, Tensor>; seen: Record<string, unknown>; blob: Uint8Array; blob_type: string; label: string; n: number; when: string }>("out");
    for (const [name, sent] of Object.entries(samples)) {
      const back = out.tensors[name];
      expect(out.seen[name], name).toEqual([NUMPY_NAME[sent.dtype], sent.shape, "ndarray"]);
      expect([back.dtype, back.shape], name).toEqual([sent.dtype, sent.shape]);
      expect(back.data.constructor, name).toBe(sent.data.constructor);
      expect(bits(back), name).toEqual(bits(sent));
    }
    expect(out.blob_type).toBe("bytes");
    expect([...out.blob]).toEqual([...blob]);
    expect([out.label, out.n, out.when]).toEqual(["x", 3.5, "1970-01-01T00:00:00.000Z"]);
  });

  it("turns numpy arrays the function makes into tensors (any byte order or strides), and refuses a dtype Evoflow has none for, naming it", async () => {
    node = await loadNode(builtin("python.function"), {
      config: { code: "import numpy as np\ndef process(p, ctx):\n    if p == 'half':\n        return np.zeros(2, dtype=np.float16)\n    big = np.array([[0, 2, 4], [6, 8, 10]], dtype='>i4')\n    return {'big': big, 'strided': np.arange(10, dtype=np.float64)[::3], 'transposed': big.astype(np.int16).T}\n" },
      grants: ["exec"],
      services: [provide(python, workers())],
    });
    await node.send("in", "make");
    await node.send("in", "half");
    const [made] = node.payloads<Record<string, Tensor>>("out");
    const plain = (t: Tensor) => [t.dtype, t.shape, [...(t.data as Int32Array)]];
    // Big-endian, strided and transposed arrays leave as row-major little-endian tensors.
    expect(plain(made.big)).toEqual(["int32", [2, 3], [0, 2, 4, 6, 8, 10]]);
    expect(plain(made.strided)).toEqual(["float64", [4], [0, 3, 6, 9]]);
    expect(plain(made.transposed)).toEqual(["int16", [3, 2], [0, 6, 2, 8, 4, 10]]);
    expect(node.deadLetters().map((l) => l.reason)).toEqual([expect.stringContaining("TypeError: numpy dtype float16 has no Evoflow tensor type")]);
  });
});
