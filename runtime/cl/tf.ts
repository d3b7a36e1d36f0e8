/**
 * tfjs on the WebAssembly backend, loaded from node_modules (never from the network).
 * tfjs-node cannot install here and the pure-JS cpu backend is ~5× slower (DESIGN.md).
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import path from "node:path";

let ready: Promise<typeof tf> | undefined;

export function tfReady(): Promise<typeof tf> {
  ready ??= (async () => {
    const dist = path.join(path.dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + path.sep;
    setWasmPaths(dist);
    if (!(await tf.setBackend("wasm"))) throw new Error(`the tfjs wasm backend did not start (looked for .wasm files in ${dist})`);
    await tf.ready();
    return tf;
  })();
  return ready;
}

export { tf };
