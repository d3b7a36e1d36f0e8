/**
 * The worker that runs runaway user code ends at its heap limit, not the process: a real
 * worker thread (runtime/user-code/jsonata-worker.mjs) with a small heap runs jsonata's
 * sort with a function, whose merge keeps every slice it makes, until the heap is full.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../runtime/paths";
import { UserCodeLimitError } from "../../runtime/user-code/limits.mjs";
import { UserCodeWorkerPool } from "../../runtime/user-code/worker-pool";

const job = (source: string, timeoutMs: number) => ({ source, input: {}, bindings: {}, limits: { timeoutMs, maxDepth: 500 } });

describe("user code worker pool", () => {
  it("a job past the worker's heap limit fails naming the limit; the process and the pool serve on", async () => {
    const pool = new UserCodeWorkerPool({ module: path.join(PROJECT_ROOT, "runtime", "user-code", "jsonata-worker.mjs"), memoryMb: 32, what: "JSONata expression", size: 1 });
    const heapBefore = process.memoryUsage().heapUsed;
    const failed = await pool.run(job("$sort([1..100000], function($a, $b){ $a < $b })", 60_000), 60_000, 60_000).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(UserCodeLimitError);
    expect((failed as UserCodeLimitError).limit).toBe("memory");
    expect((failed as Error).message).toBe("JSONata expression exceeded its memory limit of 32 MB");
    // The heap that filled up was the worker's.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect(await pool.run(job("1 + 1", 10_000), 10_000, 10_000)).toBe(2);
  });

  it("a job its own clock cannot stop (a backtracking regexp) is terminated after its time; the next job gets a new worker", async () => {
    const pool = new UserCodeWorkerPool({ module: path.join(PROJECT_ROOT, "runtime", "user-code", "jsonata-worker.mjs"), memoryMb: 64, what: "JSONata expression", size: 1 });
    expect(await pool.run(job("'ready'", 10_000), 10_000, 10_000)).toBe("ready");
    const failed = await pool.run(job("$match($pad('', 40, 'a') & 'c', /(a|a)*\\1b/)", 300), 300, 300).catch((e: unknown) => e);
    expect((failed as Error).message).toBe("JSONata expression exceeded its time limit of 300 ms");
    expect(await pool.run(job("$uppercase('served')", 10_000), 10_000, 10_000)).toBe("SERVED");
  });
});
