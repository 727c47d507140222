// The one real-time wait of the test suite. Prefer a manual clock (./clock.ts) where the code under
// test takes one, and waiting for a condition (`until`) over waiting for a fixed time.

/** Resolves after `ms` milliseconds of real time. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves after one turn of the event loop (I/O callbacks and timers due now have run). */
export const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Resolves once `pred` holds, checking after every few milliseconds; rejects after `timeoutMs`
 * with `what` in the message. A bound on a wait for an event, not a timing assertion.
 */
export async function until(
  pred: () => boolean | Promise<boolean>,
  what = 'condition',
  timeoutMs = 5_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
