/**
 * tfjs on the WebAssembly backend, loaded from node_modules (never from the network).
 * tfjs-node cannot install here and the pure-JS cpu backend is ~5× slower (DESIGN.md).
 * Loaded on first use: tfjs costs ~70 MB of memory, which a runtime that serves but
 * never trains (or trains in a child process) should not carry.
 */
import { createRequire } from "node:module";
import path from "node:path";

export type tf = typeof import("@tensorflow/tfjs");

let ready: Promise<tf> | undefined;

export function tfReady(): Promise<tf> {
  ready ??= (async () => {
    const tf = await import("@tensorflow/tfjs");
    const { setWasmPaths } = await import("@tensorflow/tfjs-backend-wasm");
    const dist = path.join(path.dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + path.sep;
    setWasmPaths(dist);
    if (!(await tf.setBackend("wasm"))) throw new Error(`the tfjs wasm backend did not start (looked for .wasm files in ${dist})`);
    await tf.ready();
    return tf;
  })();
  return ready;
}
