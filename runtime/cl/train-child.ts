/** The training child process (see trainer-process.ts): one job in, progress and one result out. */
import { train, type TrainJob } from "./train";

process.once("message", async (message: { type: "job"; job: TrainJob }) => {
  try {
    const result = await train(message.job, (progress) => process.send!({ type: "progress", progress }));
    process.send!({ type: "result", result }, () => process.exit(0));
  } catch (err) {
    process.send!({ type: "error", message: (err as Error).stack ?? String(err) }, () => process.exit(1));
  }
});
