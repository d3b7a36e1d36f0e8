import { rename, writeFile } from "node:fs/promises";

/** Writes `data` beside `file` and renames it over: a crash mid-write leaves the old file or the new one, never half of it. */
export async function replaceFile(file: string, data: string | Uint8Array): Promise<void> {
  await writeFile(`${file}.tmp`, data);
  await rename(`${file}.tmp`, file);
}
