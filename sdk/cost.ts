/**
 * Cost and energy per inference, from CPU-seconds measured where the work runs (the engine's
 * node calls, the agent's model runs, Python workers). One set of settings per process (the
 * settings file's `cost`), turned into figures per 1,000 calls here, so /metrics, model cards
 * and the CL gate say the same thing the same way.
 *
 * Energy is machine energy per CPU-second: from the RAPL counters (`/sys/class/powercap`) where
 * the process may read them, else the declared `wattsPerCore` (a CPU-second of one core at full
 * load uses that many joules). Every figure says which (`energySource`).
 */
import { z } from "zod";

export const costSettingsSchema = z
  .object({
    pricePerCoreHour: z.number().min(0).default(0.05).describe("Price of one core (one CPU as the OS counts them) for one hour, in `currency`: the order of an on-demand cloud vCPU-hour"),
    pricePerGpuHour: z.number().min(0).default(0).describe("Price of one GPU-hour; used only where GPU time is measured (no GPU backend measures it yet, so it adds nothing)"),
    currency: z.string().min(1).max(8).default("USD"),
    wattsPerCore: z
      .number()
      .positive()
      .max(1000)
      .default(3.5)
      .describe("Energy model where RAPL is unreadable: watts of one fully busy core (Cloud Carbon Footprint's average for a cloud vCPU at full load is 3.5 W)"),
    energy: z.enum(["auto", "rapl", "model"]).default("auto").describe('"auto": RAPL where readable, else the model; "rapl": refuse to start without it; "model": always wattsPerCore'),
    raplDir: z.string().min(1).default("/sys/class/powercap").describe("Where the RAPL zones are (intel-rapl:N/energy_uj)"),
    nodeCpu: z.boolean().default(true).describe("Measure CPU-seconds per node in the engine (sampled: bench/results/cost-overhead.md gives what it costs a hop); false leaves evoflow_node_cpu_seconds_total at what other processes report"),
    nodeCpuSampleEvery: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(256)
      .describe("After a node's first 64 calls, time about one call in this many (1: every call); fewer is cheaper, more follows a node whose cost varies from call to call more closely"),
  })
  .strict();
export type CostSettings = z.output<typeof costSettingsSchema>;

export type EnergySource = "rapl" | "model";

export interface EnergyRate {
  source: EnergySource;
  joulesPerCpuSecond: number;
}

/** What a process gives the parts that price their work: the settings and the current energy rate. */
export interface CostModel {
  readonly settings: CostSettings;
  rate(): EnergyRate;
}

export interface CostPer1000 {
  /** CPU-seconds per 1,000 calls. */
  cpuSeconds: number;
  joules: number;
  cost: number;
  currency: string;
  energySource: EnergySource;
}

/** Figures per 1,000 calls from `cpuSeconds` spent over `calls`; undefined before any call. */
export function per1000(cpuSeconds: number, calls: number, settings: CostSettings, energy: EnergyRate, gpuSeconds = 0): CostPer1000 | undefined {
  if (!(calls > 0)) return undefined;
  const cpu = (cpuSeconds / calls) * 1000;
  const gpu = (gpuSeconds / calls) * 1000;
  return {
    cpuSeconds: cpu,
    joules: cpu * energy.joulesPerCpuSecond,
    cost: (cpu / 3600) * settings.pricePerCoreHour + (gpu / 3600) * settings.pricePerGpuHour,
    currency: settings.currency,
    energySource: energy.source,
  };
}
