// A clock the test moves (src/clock.ts): `now()` stands still until `advance` or `set` moves it,
// and the timers components start on it fire when the moved time reaches them — in time order,
// each given a few event-loop turns to do its (async) work before the next one fires.
import type { Clock, Timer } from '../../src/clock.ts';
import { nextTurn } from './sleep.ts';

interface Pending {
  at: number;
  every?: number;
  fn: () => void;
  order: number;
}

export class ManualClock implements Clock {
  #now: number;
  #timers = new Map<number, Pending>();
  #next = 0;

  /** Starts at `start` (default: the real time now, so it agrees with timestamps the store takes). */
  constructor(start = Date.now()) {
    this.#now = start;
  }

  // Arrow properties: `clock.now` may be handed on unbound, as Date.now is.
  now = (): number => this.#now;

  setTimeout = (fn: () => void, ms: number): Timer => this.#add(fn, ms, undefined);

  setInterval = (fn: () => void, ms: number): Timer => this.#add(fn, ms, Math.max(1, ms));

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that comes due on the way. */
  async advance(ms: number): Promise<void> {
    await this.set(this.#now + ms);
  }

  /** Moves time forward to `at` (never back), firing every timer that comes due on the way. */
  async set(at: number): Promise<void> {
    for (;;) {
      let due: [number, Pending] | undefined;
      for (const entry of this.#timers) {
        const t = entry[1];
        if (t.at > at) continue;
        if (!due || t.at < due[1].at || (t.at === due[1].at && t.order < due[1].order)) due = entry;
      }
      if (!due) break;
      const [id, t] = due;
      this.#now = Math.max(this.#now, t.at);
      if (t.every) {
        t.at += t.every;
        t.order = ++this.#next;
      } else this.#timers.delete(id);
      t.fn();
      await this.#settle();
    }
    this.#now = Math.max(this.#now, at);
    await this.#settle();
  }

  #add(fn: () => void, ms: number, every: number | undefined): Timer {
    const id = ++this.#next;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), every, fn, order: id });
    return { cancel: () => this.#timers.delete(id) };
  }

  /** A few turns: enough for a timer's store calls (SQLite group commit) to complete. */
  async #settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await nextTurn();
  }
}
