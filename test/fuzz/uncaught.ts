/**
 * Records every uncaught exception and unhandled rejection while a fuzz file runs, so a test can
 * assert there were none (vitest would report them too, but not tied to the fuzz run that caused them).
 */
import { afterAll } from "vitest";

export function watchUncaught(): { errors: unknown[] } {
  const seen = { errors: [] as unknown[] };
  const record = (err: unknown) => void seen.errors.push(err);
  process.on("uncaughtException", record);
  process.on("unhandledRejection", record);
  afterAll(() => {
    process.off("uncaughtException", record);
    process.off("unhandledRejection", record);
  });
  return seen;
}
