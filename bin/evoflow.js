#!/usr/bin/env -S node --max-semi-space-size=64
// A larger young generation: the engine makes a short-lived envelope per hop, and with
// V8's default 16 MB one, messages still held by taps and queues get promoted and GC
// takes a third of the time (bench/results/engine-vs-node-red.md measures both).
// The CLI is TypeScript run through tsx, so the repository needs no build step.
import { register } from "tsx/esm/api";
register();
await import("../runtime/cli/main.ts");
