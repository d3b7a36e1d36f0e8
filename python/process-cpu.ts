/**
 * CPU seconds a worker process used, from /proc/<pid>/stat (utime + stime, every thread of
 * the process: numpy's BLAS threads too). The file is kept open and re-read at offset 0, a
 * ~1.5 µs read rather than ~27 µs for open+read+close. Its unit is the clock tick (USER_HZ,
 * 100 on Linux whatever the kernel's HZ: a fixed part of the /proc ABI), so one reading is
 * exact only to 10 ms; a worker handles one call at a time and each call is charged the
 * difference since the previous reading, so the sum over calls is exact to one tick in all.
 * The file is read at most once per tick of wall time: the kernel builds the whole stat line
 * for it, 20-60 µs on a busy machine, more than a small call itself. A call answered sooner
 * after the last reading is charged 0 and what it used goes to the next call read; the calls of
 * the last tick before the worker goes idle wait for the next call to be charged.
 * Elsewhere than Linux there is no file and every delta is 0.
 */
import { closeSync, openSync, readSync } from "node:fs";

const USER_HZ = 100;
const TICK_MS = 1000 / USER_HZ;

export class ProcessCpu {
  private fd: number | undefined;
  private last = 0;
  private lastReadAt = 0;
  private readonly buffer = Buffer.alloc(1024);

  constructor(pid: number | undefined) {
    if (pid === undefined) return;
    try {
      this.fd = openSync(`/proc/${pid}/stat`, "r");
      this.last = this.ticks();
    } catch {
      this.fd = undefined;
    }
  }

  private ticks(): number {
    const n = readSync(this.fd!, this.buffer, 0, this.buffer.length, 0);
    // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
    const text = this.buffer.toString("latin1", 0, n);
    const fields = text.slice(text.lastIndexOf(") ") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  }

  /** CPU seconds since the previous call (or since the process was opened). */
  sinceLast(): number {
    if (this.fd === undefined) return 0;
    const at = performance.now();
    if (at - this.lastReadAt < TICK_MS) return 0;
    this.lastReadAt = at;
    try {
      const now = this.ticks();
      const delta = now - this.last;
      this.last = now;
      return delta / USER_HZ;
    } catch {
      return 0; // the process has exited
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
