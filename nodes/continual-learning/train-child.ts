/** The training child process (see trainer-process.ts): jobs in one at a time, progress and one result out for each. It ends with its parent's IPC channel. */
import { readSnapshot } from "./snapshot";
import { train, type TrainJob } from "./train";

/** The job, and the snapshot folder its examples were written to (see trainer-process.ts). */
process.on("message", async (message: { type: "job"; job: Omit<TrainJob, "data">; dataDir: string }) => {
  try {
    const { set } = await readSnapshot(message.dataDir);
    const result = await train({ ...message.job, data: set }, (progress) => process.send!({ type: "progress", progress }));
    process.send!({ type: "result", result });
  } catch (err) {
    process.send!({ type: "error", message: (err as Error).stack ?? String(err) }, () => process.exit(1));
  }
});
