/**
 * The process's CostModel (sdk/cost.ts): settings, and joules per CPU-second from RAPL or the
 * declared watts-per-core model.
 *
 * RAPL: the package zones' `energy_uj` (intel-rapl:N, not their sub-zones, which the package
 * already counts), summed, wrapping at `max_energy_range_uj`. They count the whole machine, idle
 * power included, so the rate is package energy over the machine's busy CPU-seconds (/proc/stat,
 * every process) between two readings: the energy a CPU-second of work costs here, the idle share
 * spread over the work. Since 2020 (CVE-2020-8694) the files are root-only on most systems, so
 * "auto" falls back to the model, and says so in every figure.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { costSettingsSchema, type CostModel, type CostSettings, type EnergyRate } from "../sdk/cost";

/** /proc/stat counts in USER_HZ, 100 on Linux whatever the kernel's HZ. */
const USER_HZ = 100;

interface RaplReading {
  microjoules: number;
  busyCpuSeconds: number;
}

function raplZones(dir: string): { energy: string; range: number }[] {
  return readdirSync(dir)
    .filter((name) => /^intel-rapl:\d+$/.test(name))
    .map((name) => {
      const zone = path.join(dir, name);
      let range = Number.POSITIVE_INFINITY;
      try {
        range = Number(readFileSync(path.join(zone, "max_energy_range_uj"), "utf8"));
      } catch {
        // no range given: no wrap expected
      }
      return { energy: path.join(zone, "energy_uj"), range };
    });
}

/** Busy CPU-seconds of the whole machine: user, nice, system, irq, softirq and steal of the "cpu" line. */
function machineBusyCpuSeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + (steal || 0)) / USER_HZ;
}

export class EnergyMeter implements CostModel {
  readonly settings: CostSettings;
  private readonly zones: { energy: string; range: number }[] = [];
  private last?: RaplReading;
  private lastValues: number[] = [];
  /** Energy counted since the first reading, wraps undone. */
  private totalMicrojoules = 0;
  private current: EnergyRate;

  constructor(settings: Partial<CostSettings> = {}) {
    this.settings = costSettingsSchema.parse(settings);
    this.current = { source: "model", joulesPerCpuSecond: this.settings.wattsPerCore };
    if (this.settings.energy === "model") return;
    let problem: string | undefined;
    try {
      this.zones = raplZones(this.settings.raplDir);
      if (this.zones.length === 0) problem = `no intel-rapl:N zone in ${this.settings.raplDir}`;
      else this.last = this.read();
    } catch (err) {
      problem = `${this.settings.raplDir}: ${(err as Error).message}`;
      this.zones = [];
    }
    if (problem && this.settings.energy === "rapl") throw new Error(`cost.energy is "rapl" but RAPL cannot be read: ${problem} (set cost.energy to "auto" or "model")`);
    if (!problem) this.current = { source: "rapl", joulesPerCpuSecond: this.settings.wattsPerCore };
  }

  private read(): RaplReading {
    const values = this.zones.map((z) => Number(readFileSync(z.energy, "utf8")));
    values.forEach((v, i) => {
      const before = this.lastValues[i];
      if (before !== undefined) this.totalMicrojoules += v >= before ? v - before : v + this.zones[i].range - before; // the counter wrapped
    });
    this.lastValues = values;
    return { microjoules: this.totalMicrojoules, busyCpuSeconds: machineBusyCpuSeconds() };
  }

  /**
   * Joules per CPU-second, RAPL's over the interval since the previous call (at each /metrics
   * scrape), kept when the machine did no work meanwhile. Until RAPL has an interval, its first
   * figure is the model's.
   */
  rate(): EnergyRate {
    if (this.current.source !== "rapl" || !this.last) return this.current;
    try {
      const now = this.read();
      const busy = now.busyCpuSeconds - this.last.busyCpuSeconds;
      if (busy > 0) {
        this.current = { source: "rapl", joulesPerCpuSecond: (now.microjoules - this.last.microjoules) / 1e6 / busy };
        this.last = now;
      }
    } catch {
      // a zone went away: keep the last figure
    }
    return this.current;
  }
}
