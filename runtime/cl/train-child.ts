/** The training child process (see trainer-process.ts): one job in, progress and one result out. */
import { readSnapshot } from "./snapshot";
import { train, type TrainJob } from "./train";

/** The job, and the snapshot folder its examples were written to (see trainer-process.ts). */
process.once("message", async (message: { type: "job"; job: Omit<TrainJob, "data">; dataDir: string }) => {
  try {
    const { set } = await readSnapshot(message.dataDir);
    const result = await train({ ...message.job, data: set }, (progress) => process.send!({ type: "progress", progress }));
    process.send!({ type: "result", result }, () => process.exit(0));
  } catch (err) {
    process.send!({ type: "error", message: (err as Error).stack ?? String(err) }, () => process.exit(1));
  }
});
