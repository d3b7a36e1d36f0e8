/**
 * The training child process: results equal to training in-process, the process kept for the
 * next job (a fork blocks the serving process for as long as copying its page tables takes),
 * and a failed job's process never reused.
 */
import { afterAll, describe, expect, it } from "vitest";
import { indicesOfClasses, loadFashionMnist, subset } from "../../nodes/continual-learning/fashion-mnist";
import { train, trainConfigSchema } from "../../nodes/continual-learning/train";
import { stopIdleTrainer, trainInChildProcess } from "../../nodes/continual-learning/trainer-process";

afterAll(() => void stopIdleTrainer());

describe("trainInChildProcess", () => {
  const data = loadFashionMnist("test");
  const first = subset(data, indicesOfClasses(data, [0, 1, 2]).slice(0, 600));
  const second = subset(data, indicesOfClasses(data, [3, 4]).slice(0, 400));
  const config = trainConfigSchema.parse({ epochs: 1, architecture: { hidden: [16] }, classes: 5, replay: { memSize: 100 }, ewc: { lambda: 5 } });

  it("gives what train() gives in-process, and keeps its process for the next job", async () => {
    stopIdleTrainer();
    const progress: number[] = [];
    const inChild = await trainInChildProcess({ config, data: first }, { onProgress: (p) => progress.push(p.epoch) });
    expect(progress).toEqual([1]);
    const inProcess = await train({ config, data: first });
    expect(Buffer.from(inChild.onnx).equals(Buffer.from(inProcess.onnx))).toBe(true);
    expect(inChild.state.replay!.count).toBe(inProcess.state.replay!.count);

    // The next job (a stateful one, with the CL state going in) runs in the kept process.
    const next = await trainInChildProcess({ config, data: second, base: inChild.onnx, state: inChild.state });
    const nextInProcess = await train({ config, data: second, base: inProcess.onnx, state: inProcess.state });
    expect(next.warmStart).toBe(true);
    expect(Buffer.from(next.onnx).equals(Buffer.from(nextInProcess.onnx))).toBe(true);
    expect(stopIdleTrainer()).toBe(true);
    expect(stopIdleTrainer()).toBe(false);
  }, 60_000);

  it("a failed job rejects with the child's error and its process is not kept", async () => {
    await trainInChildProcess({ config, data: first });
    // Labels 0–2 with a 2-class model: train() refuses them.
    await expect(trainInChildProcess({ config: { ...config, classes: 2 }, data: first })).rejects.toThrow(/outside the model's 2 classes/);
    expect(stopIdleTrainer()).toBe(false);
    // And the next job starts a fresh process.
    expect((await trainInChildProcess({ config, data: second })).samplesSeen).toBeGreaterThan(0);
  }, 60_000);
});
