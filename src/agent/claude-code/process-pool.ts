// A cap on concurrent Claude Code CLI processes (CLAUDE_MAX_PROCESSES): each active run holds one
// slot for the lifetime of its CLI process; runs beyond the cap wait in FIFO order.

export interface SlotStats {
  capacity: number;
  active: number;
  waiting: number;
}

interface Waiter {
  grant: () => void;
}

export class ProcessSlots {
  readonly capacity: number;
  private active = 0;
  private readonly queue: Waiter[] = [];

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  stats(): SlotStats {
    return { capacity: this.capacity, active: this.active, waiting: this.queue.length };
  }

  /**
   * Resolves with a release function once a slot is free. `onWait` is called (once) when the caller
   * has to queue. Rejects with `signal.reason` when the signal aborts while waiting.
   */
  acquire(signal: AbortSignal, onWait?: (position: number) => void): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.active < this.capacity && this.queue.length === 0) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          this.active++;
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      onWait?.(this.queue.length);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const next = this.queue.shift();
      if (next) next.grant();
    };
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}
