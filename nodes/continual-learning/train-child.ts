/** The training child process (see trainer-process.ts): jobs in one at a time, progress and one result out for each. It ends with its parent's IPC channel. */
import { readSnapshot } from "./snapshot";
import { readStateFile, writeStateFile } from "./state-store";
import { train, type TrainJob } from "./train";
import type { StateFiles } from "./trainer-process";

/** The job, the snapshot folder its examples were written to, and where its CL state is read and written (see trainer-process.ts). */
process.on("message", async (message: { type: "job"; job: Omit<TrainJob, "data">; dataDir: string; stateFiles?: StateFiles }) => {
  try {
    const { job, stateFiles } = message;
    const { set } = await readSnapshot(message.dataDir);
    const state = (stateFiles?.from && (await readStateFile(stateFiles.from))) || job.state;
    const result = await train({ ...job, state, data: set }, (progress) => process.send!({ type: "progress", progress }));
    if (stateFiles) {
      await writeStateFile(stateFiles.to, result.state);
      result.state = { seenClasses: result.state.seenClasses, experiences: result.state.experiences };
    }
    process.send!({ type: "result", result });
  } catch (err) {
    process.send!({ type: "error", message: (err as Error).stack ?? String(err) }, () => process.exit(1));
  }
});
