// Follows a session's events for one subscriber: stored events after `after` first (replay from
// the store), then live ones, each exactly once and in seq order. Live events that arrive while
// replaying are held back and de-duplicated by seq; a gap (e.g. events from another instance
// arriving out of order) is filled from the store.
import type { Event } from '../protocol/index.ts';
import type { Store } from '../store/types.ts';
import type { EventLog } from './event-log.ts';

const PAGE = 500;

export interface EventFollower {
  /** Highest seq delivered so far. */
  readonly lastSeq: number;
  close(): void;
}

export function followEvents(opts: {
  store: Store;
  eventLog: EventLog;
  sessionId: string;
  after: number;
  onEvent: (event: Event) => void;
  onError?: (err: unknown) => void;
}): EventFollower {
  const { store, eventLog, sessionId, onEvent } = opts;
  let last = opts.after;
  let closed = false;
  let catchingUp = true;
  const held: Event[] = [];

  const deliver = (e: Event) => {
    if (closed || e.seq <= last) return;
    last = e.seq;
    onEvent(e);
  };

  const catchUp = async (): Promise<void> => {
    for (;;) {
      const page = await store.listEvents(sessionId, last, PAGE);
      for (const e of page) deliver(e);
      if (page.length < PAGE || closed) return;
    }
  };

  const drainHeld = async (): Promise<void> => {
    while (held.length > 0 && !closed) {
      held.sort((a, b) => a.seq - b.seq);
      const next = held[0]!;
      if (next.seq <= last) {
        held.shift();
        continue;
      }
      if (next.seq === last + 1) {
        held.shift();
        deliver(next);
        continue;
      }
      await catchUp(); // gap: fetch what is missing from the store
      if (held[0] && held[0].seq > last + 1 && !closed) {
        // still missing (not yet committed where we can read it): deliver in order anyway
        deliver(held.shift()!);
      }
    }
  };

  // Runs until nothing is held back; `catchingUp` flips to false with no await in between, so a
  // live event either lands in `held` before the last check or takes the direct path after it.
  const settle = async (replay: boolean): Promise<void> => {
    try {
      if (replay) await catchUp();
      do await drainHeld();
      while (held.length > 0 && !closed);
    } catch (err) {
      opts.onError?.(err);
    } finally {
      catchingUp = false;
    }
  };

  const unsubscribe = eventLog.subscribe(sessionId, (e) => {
    if (closed) return;
    if (catchingUp) {
      held.push(e);
      return;
    }
    if (e.seq === last + 1 || e.seq <= last) {
      deliver(e);
      return;
    }
    held.push(e);
    catchingUp = true;
    void settle(false);
  });

  void settle(true);

  return {
    get lastSeq() {
      return last;
    },
    close() {
      closed = true;
      unsubscribe();
    },
  };
}
