/**
 * What a process holds, as its NATS heartbeat reports it (issue 24, lean workers): its
 * resident set now and at its peak, and the packages it has loaded, so a pipeline's status
 * shows each worker's RSS beside the nodes it runs and what a heavy one pulled in.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

export interface ProcessFootprint {
  /** Resident set now and its high-water mark (VmRSS, VmHWM), MB of 2^20 bytes. */
  rssMb: number;
  peakRssMb: number;
  /**
   * Packages loaded through Node's CommonJS loader (every heavy one is: onnxruntime-node,
   * @tensorflow/tfjs, node-red, the connectors' clients) and those whose native addon is
   * mapped; ES-module-only packages (zod) are not seen.
   */
  packages: string[];
}

/** A process's resident set from /proc/<pid>/status, bytes: VmRSS now, VmHWM its peak; NaN when the process is gone. */
export function procRss(pid: number | "self", field: "VmRSS" | "VmHWM"): number {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return kb ? Number(kb[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const moduleCache = createRequire(import.meta.url).cache;
// The package of a file: what follows its last node_modules/ (a scope and a name, or a name).
const PACKAGE_OF = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//;

function nativeAddons(): string[] {
  try {
    return readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(".node")).map((l) => l.slice(l.indexOf("/")));
  } catch {
    return [];
  }
}

export function processFootprint(): ProcessFootprint {
  const packages = new Set<string>();
  for (const file of [...Object.keys(moduleCache), ...nativeAddons()]) {
    const name = PACKAGE_OF.exec(file)?.[1];
    if (name) packages.add(name);
  }
  const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  const rss = procRss("self", "VmRSS") || process.memoryUsage.rss();
  return { rssMb: mb(rss), peakRssMb: mb(procRss("self", "VmHWM") || process.resourceUsage().maxRSS * 1024), packages: [...packages].sort() };
}
