/**
 * Where a process's CPU time went, from a V8 CPU profile (`node --cpu-prof`): self time summed
 * by the area of the code that spent it, matched on each frame's file (or native function).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** First match wins: [area, test on "url functionName"]. */
const AREAS: [string, RegExp][] = [
  ["garbage collection", /^ \(garbage collector\)$/],
  ["clock reads (performance.now, Date.now)", /^ (now|hrtime)$/],
  ["idle / waiting", /^ \((idle|program)\)$/],
  ["engine (runtime/engine)", /runtime\/engine\//],
  ["async queue (runtime/transport/memory.ts)", /runtime\/transport\/memory/],
  ["tap rings (runtime/taps.ts, sdk/ring.ts)", /runtime\/taps|sdk\/ring/],
  ["provenance (runtime/provenance.ts)", /runtime\/provenance/],
  ["envelope ids (sdk/envelope.ts)", /sdk\/envelope/],
  ["payload weighing (runtime/binary-payload.ts)", /runtime\/binary-payload/],
  ["entry point admission (runtime/overload.ts)", /runtime\/overload/],
  ["node counters (runtime/metrics.ts)", /runtime\/metrics/],
  ["the transforms themselves (nodes/transform)", /nodes\/transform\//],
  ["the benchmark's driver", /bench\//],
];

export function summariseProfile(file: string): { area: string; percent: number }[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const frames = new Map(profile.nodes.map((n) => [n.id, `${n.callFrame.url} ${n.callFrame.functionName}`]));
  const byArea = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const frame = frames.get(profile.samples[i]) ?? "";
    const area = AREAS.find(([, test]) => test.test(frame))?.[0] ?? "start-up, module loading and the rest";
    byArea.set(area, (byArea.get(area) ?? 0) + dt);
    total += dt;
  }
  return [...byArea].map(([area, t]) => ({ area, percent: Math.round((1000 * t) / total) / 10 })).sort((a, b) => b.percent - a.percent);
}
