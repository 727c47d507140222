// Time as the parts that act on it see it: the scheduler (leases, deadlines, drain grace), the
// callback dispatcher (backoff, give-up age, poll) and the request guards (signature windows,
// nonce records). Production uses `systemClock`; tests pass a manual clock and move it, so what
// happens "after a lease expires" or "an hour later" is tested without waiting for it.
// Timers go through the clock too: a lease expiry the clock has reached must also be noticed.

/** A scheduled call; `cancel` is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface TimerOptions {
  /** The timer does not keep the process alive (Node's `unref`). */
  unref?: boolean;
}

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Calls `fn` once, `ms` from now (by this clock). */
  setTimeout(fn: () => void, ms: number, opts?: TimerOptions): Timer;
  /** Calls `fn` every `ms` (by this clock) until cancelled. */
  setInterval(fn: () => void, ms: number, opts?: TimerOptions): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms, opts) {
    const t = setTimeout(fn, ms);
    if (opts?.unref) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms, opts) {
    const t = setInterval(fn, ms);
    if (opts?.unref) t.unref();
    return { cancel: () => clearInterval(t) };
  },
};
