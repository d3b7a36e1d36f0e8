/**
 * Puts threads of this process into Linux's idle scheduling class (SCHED_IDLE) and back,
 * so a session worker can create a session only with CPU that nothing else wants
 * (`loadPriority: "idle"`). Unlike nice 19 (a weight of 15 against 1024), the class also
 * yields to other processes' background work, even niced, so a load leaves it after
 * `idleLoadLimitMs`: with two nice-10 busy processes on 2 cores an overcommitted agent
 * made 259 loads in 10 s this way, 453 at nice 19 and 1581 at normal priority
 * (bench/agent-background-load.ts).
 *
 * Node has no call for `sched_setscheduler`, and one `chrt` process per load costs a
 * fork and exec of CPU (hundreds of loads a second under overcommit), so one long-lived
 * Python process makes the calls: `os.sched_setscheduler(tid, ...)` on a thread id
 * of this process (allowed for the same user). It checks at start that it may also take
 * a thread out of the class again; where it may not, or Python is missing, `start`
 * gives `undefined` and loads run at a nice value instead (gpu-agent/ort-worker.mjs).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";

const PYTHON = ["/usr/bin/python3", "/usr/local/bin/python3"].find((file) => existsSync(file));

const HELPER = `
import os, sys
agent = int(sys.argv[1])
def put(tid, policy):
    os.sched_setscheduler(tid, os.SCHED_IDLE if policy == "idle" else os.SCHED_OTHER, os.sched_param(0))
try:
    put(0, "idle")
    put(0, "other")
except OSError as err:
    print("unavailable", err, flush=True)
    sys.exit(0)
print("ready", flush=True)
held = set()
# Threads already checked: only a thread started since can have inherited the class.
known = set()
for line in sys.stdin:
    tid, policy = line.split()
    tid = int(tid)
    try:
        put(tid, policy)
        if policy == "idle":
            held.add(tid)
        else:
            held.discard(tid)
            # A thread started by a thread in the class (a session's own thread pool, with more than one intra-op thread) inherits it: take it out too.
            threads = set(map(int, os.listdir(f"/proc/{agent}/task")))
            for other in threads - known - held:
                try:
                    if os.sched_getscheduler(other) == os.SCHED_IDLE:
                        put(other, "other")
                except OSError:
                    pass  # the thread has ended
            known = threads - held
        print("ok", flush=True)
    except OSError as err:
        print("error", err, flush=True)
`;

export type SchedulingClass = "idle" | "other";

export class IdleClass {
  /** Answers come in the order of the requests (one pipe each way). */
  private readonly waiting: { resolve(): void; reject(err: Error): void }[] = [];
  private failure?: Error;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, lines: AsyncIterator<string>) {
    void (async () => {
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        const call = this.waiting.shift();
        if (this.waiting.length === 0) this.holdProcess(false);
        if (next.value === "ok") call?.resolve();
        else call?.reject(new Error(`sched_setscheduler failed: ${next.value.replace(/^error /, "")}`));
      }
      this.fail(new Error("the scheduling helper process exited"));
    })();
    child.on("error", (err) => this.fail(err));
  }

  /** The helper, ready; `undefined` where threads cannot be moved into the idle class and back. */
  static async start(): Promise<IdleClass | undefined> {
    if (process.platform !== "linux" || !PYTHON) return undefined;
    const child = spawn(PYTHON, ["-c", HELPER, String(process.pid)], { stdio: ["pipe", "pipe", "pipe"] });
    child.on("error", () => undefined);
    child.stderr.resume();
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next().catch(() => ({ done: true, value: undefined }));
    if (first.done || first.value !== "ready") {
      child.kill();
      return undefined;
    }
    const helper = new IdleClass(child, lines);
    helper.holdProcess(false);
    return helper;
  }

  /** The helper keeps the agent's process alive only while an answer is awaited. */
  private holdProcess(hold: boolean): void {
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as unknown as { ref(): void; unref(): void }[])
      if (hold) handle.ref();
      else handle.unref();
  }

  /** Moves thread `tid` of this process into `policy`; resolves once the kernel has done it. */
  set(tid: number, policy: SchedulingClass): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting.length === 0) this.holdProcess(true);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${tid} ${policy}\n`);
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.holdProcess(false);
    for (const call of this.waiting.splice(0)) call.reject(this.failure);
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

/** The scheduling class of a thread of this process, from /proc (for tests and checks). */
export async function schedulingPolicyOf(tid: number): Promise<number> {
  // Field 41 of /proc/<pid>/task/<tid>/stat is the policy (0 SCHED_OTHER, 5 SCHED_IDLE); the name (field 2) may hold spaces.
  const stat = await readFile(`/proc/${process.pid}/task/${tid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[41 - 3]);
}
