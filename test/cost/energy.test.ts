/**
 * Where the energy figure comes from, said in every figure: RAPL's package counters where they
 * can be read, else the declared watts per core. This machine's /sys/class/powercap is checked
 * as it is; the RAPL arithmetic (sum of packages, wrap at max_energy_range_uj, over the machine's
 * busy CPU-seconds) runs on zone files laid out as the kernel lays them out.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EnergyMeter } from "../../runtime/energy";

function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / 100;
}

function burnCpu(ms: number): void {
  const from = process.cpuUsage();
  while ((process.cpuUsage(from).user + process.cpuUsage(from).system) / 1000 < ms);
}

describe("energy source", () => {
  it("on this machine: rapl when its package counters are readable, else the model", () => {
    let readable = false;
    try {
      readFileSync("/sys/class/powercap/intel-rapl:0/energy_uj", "utf8");
      readable = true;
    } catch {
      readable = false;
    }
    const rate = new EnergyMeter().rate();
    expect(rate.source).toBe(readable ? "rapl" : "model");
    if (!readable) expect(rate.joulesPerCpuSecond).toBe(3.5);
  });

  it('"model" uses the declared watts per core; "rapl" refuses to start without RAPL, naming the folder', () => {
    expect(new EnergyMeter({ energy: "model", wattsPerCore: 7 }).rate()).toEqual({ source: "model", joulesPerCpuSecond: 7 });
    const missing = path.join(tmpdir(), "no-powercap-here");
    expect(existsSync(missing)).toBe(false);
    expect(() => new EnergyMeter({ energy: "rapl", raplDir: missing })).toThrow(/cost.energy is "rapl" but RAPL cannot be read: .*no-powercap-here/);
    expect(new EnergyMeter({ energy: "auto", raplDir: missing }).rate().source).toBe("model");
  });

  it("rapl: package energy (sub-zones not added again, a wrap undone) over the machine's busy CPU-seconds", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "evoflow-powercap-"));
    const zone = (name: string, uj: number, range = 1_000_000_000) => {
      mkdirSync(path.join(dir, name), { recursive: true });
      writeFileSync(path.join(dir, name, "energy_uj"), `${uj}\n`);
      writeFileSync(path.join(dir, name, "max_energy_range_uj"), `${range}\n`);
    };
    zone("intel-rapl:0", 900_000_000);
    zone("intel-rapl:1", 100_000_000);
    zone("intel-rapl:0:0", 5); // the cores of package 0: inside its count already
    const meter = new EnergyMeter({ raplDir: dir });
    const busyBefore = machineBusySeconds();
    expect(meter.rate().source).toBe("rapl");
    burnCpu(200);
    // Package 0 wrapped past its range (+200 J), package 1 counted +50 J, the sub-zone's count is ignored.
    zone("intel-rapl:0", 100_000_000);
    zone("intel-rapl:1", 150_000_000);
    zone("intel-rapl:0:0", 999_999_999);
    const rate = meter.rate();
    const busy = machineBusySeconds() - busyBefore;
    expect(rate.source).toBe("rapl");
    // 250 J over the busy CPU-seconds between the two readings (at least the 0.2 burnt here; other processes add more).
    expect(rate.joulesPerCpuSecond).toBeLessThanOrEqual(250 / 0.2 + 1e-9);
    expect(rate.joulesPerCpuSecond).toBeGreaterThan(250 / (busy + 0.05));
  });
});
