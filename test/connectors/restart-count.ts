/**
 * For the broker/database restart tests: numbered messages `{ n }`, sent while the server is
 * stopped and started again midway, and the numbers that never arrived, so "none lost" is
 * asserted by counting whatever duplicates at least once allowed.
 */

export const COUNT = 300;

/** The numbers 0..count-1 that `payloads` (each `{ n }`) lack. */
export function missing(count: number, payloads: Iterable<unknown>): number[] {
  const seen = new Set<number>();
  for (const p of payloads) seen.add((p as { n: number }).n);
  return Array.from({ length: count }, (_, n) => n).filter((n) => !seen.has(n));
}

export async function until(ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Sends 0..count-1 one after the other with `send(n)`; once half were sent, the server is stopped
 * and started again in the background while the sending goes on, so the rest is sent while it is
 * away and coming back. A send that fails is tried again every 100 ms for `retryMs`, as a
 * producer that wants its message stored would: what counts as sent is what the server accepted.
 */
export async function sendAcrossRestart(
  count: number,
  send: (n: number) => Promise<void>,
  server: { stop(): Promise<void>; restart(): Promise<void> },
  retryMs = 60_000,
): Promise<void> {
  let restarting: Promise<void> | undefined;
  for (let n = 0; n < count; n++) {
    if (n === Math.floor(count / 2)) {
      await server.stop();
      restarting = server.restart();
    }
    const deadline = Date.now() + retryMs;
    for (;;) {
      try {
        await send(n);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`message ${n} was never accepted: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  await restarting;
}
