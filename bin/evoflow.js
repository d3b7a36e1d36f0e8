#!/usr/bin/env -S node --max-semi-space-size=32
// A larger young generation: the engine makes a short-lived envelope per hop, and with
// V8's default 16 MB one, messages still held by taps and queues get promoted more often
// (bench/results/engine-vs-node-red.md measures both; 32 MB is ~10% faster and steadier).
// The CLI is TypeScript run through tsx, so the repository needs no build step.
import { register } from "tsx/esm/api";
register();
await import("../runtime/cli/main.ts");
