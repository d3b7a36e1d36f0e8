/**
 * Writing files that other processes (and later runs) read: to a temporary name, flushed,
 * then renamed, so a reader never sees half a file, even after a crash.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";

export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
