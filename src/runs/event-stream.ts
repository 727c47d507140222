// Follows a session's events for one subscriber: every event after `after` exactly once, in seq
// order — stored events first (replayed from the store), then live ones.
//
// Backpressure, end to end: `onEvent` may return a promise (the consumer's write), and the next
// event is delivered only when it has settled; the next page is read from the store only when the
// previous one has been delivered. So a consumer that does not read costs one page, not the
// session's history — and pages are sized by bytes (estimated from the previous page, starting
// small), so a page of 64 KB deltas is as short as one of small events is long.
//
// Live events arrive from the EventLog whenever they are published, however busy the consumer is.
// They are held (in seq order) up to `maxHeld`; beyond that the held ones are dropped and the
// follower goes back to the store — nothing is lost, because the EventLog stores every event
// BEFORE it publishes it, so whatever was dropped is there to be read.
//
// The race: the subscription to the EventLog is made before the first store read, so an event is
// either published after the subscription (then it is held, or dropped and re-read) or stored
// before the read starts (then the read returns it). Events seen both ways are de-duplicated by seq.
// A gap in the live events (e.g. another instance's events arriving out of order) is filled from
// the store; if the store does not have the missing seqs either, the held event is delivered
// anyway, in order.
import type { Event } from '../protocol/index.ts';
import type { Store } from '../store/types.ts';
import type { EventLog } from './event-log.ts';

/** Most events per store read during catch-up. */
const PAGE = 200;
/** Estimated bytes per store read: what a consumer that does not read makes us hold. */
const PAGE_BYTES = 512 * 1024;
/** Events of the first read (sizes unknown yet), and the fewest per read. */
const FIRST_PAGE = 16;
const MIN_PAGE = 4;
/** Live events held for a busy consumer before they are dropped (and re-read from the store). */
const MAX_HELD = 1_000;

export interface EventFollower {
  /** Highest seq delivered so far. */
  readonly lastSeq: number;
  close(): void;
}

export interface FollowOptions {
  store: Pick<Store, 'listEvents'>;
  eventLog: Pick<EventLog, 'subscribe'>;
  sessionId: string;
  after: number;
  /** Receives each event; the next one waits until the returned promise (if any) settles. */
  onEvent: (event: Event) => void | Promise<void>;
  /** A store read or the consumer failed; the follower has stopped. */
  onError?: (err: unknown) => void;
  /** Most events per store read (default PAGE); reads are shorter when events are big. */
  pageSize?: number;
  maxHeld?: number;
}

/** A cheap estimate of an event's serialized size (its strings dominate). */
function approxBytes(e: Event): number {
  let n = 128;
  for (const v of Object.values(e.data))
    n += typeof v === 'string' ? v.length : (JSON.stringify(v)?.length ?? 0);
  return n;
}

export function followEvents(opts: FollowOptions): EventFollower {
  const { store, sessionId, onEvent } = opts;
  const pageSize = opts.pageSize ?? PAGE;
  const maxHeld = opts.maxHeld ?? MAX_HELD;
  let last = opts.after;
  let closed = false;
  /** Live events not yet delivered (ascending seq in practice; sorted before use). */
  let held: Event[] = [];
  /** Live events were dropped: the next step is a store read. */
  let dropped = false;
  let wake: (() => void) | null = null;
  let limit = Math.min(pageSize, FIRST_PAGE);

  const unsubscribe = opts.eventLog.subscribe(sessionId, (e) => {
    if (closed || e.seq <= last || dropped) return;
    held.push(e);
    if (held.length > maxHeld) {
      held = [];
      dropped = true;
    }
    wake?.();
  });

  const deliver = async (e: Event): Promise<void> => {
    if (closed || e.seq <= last) return;
    last = e.seq;
    await onEvent(e);
  };

  /** Delivers the stored events after `last`, one page at a time. */
  const readStore = async (): Promise<void> => {
    // Cleared BEFORE the read: whatever is dropped from now on is re-read by the next round.
    dropped = false;
    for (;;) {
      const asked = limit;
      const page = await store.listEvents(sessionId, last, asked);
      if (page.length > 0) {
        const avg = page.reduce((n, e) => n + approxBytes(e), 0) / page.length;
        limit = Math.max(Math.min(MIN_PAGE, pageSize), Math.min(pageSize, Math.floor(PAGE_BYTES / avg)));
      }
      for (const e of page) {
        if (closed) return;
        await deliver(e);
      }
      if (page.length < asked || closed) return;
    }
  };

  const run = async (): Promise<void> => {
    await readStore();
    /** The seq of a held event whose gap the store was already asked to fill. */
    let gapAt = 0;
    while (!closed) {
      if (dropped) {
        await readStore();
        continue;
      }
      if (held.length === 0) {
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
        continue;
      }
      if (held.length > 1 && held[0]!.seq > held[1]!.seq) held.sort((a, b) => a.seq - b.seq);
      const next = held[0]!;
      if (next.seq > last + 1 && next.seq !== gapAt) {
        gapAt = next.seq; // a gap: what is missing should be in the store
        await readStore();
        continue;
      }
      held.shift();
      await deliver(next);
    }
  };

  void run().catch((err: unknown) => {
    if (!closed) opts.onError?.(err);
    closed = true;
    unsubscribe();
  });

  return {
    get lastSeq() {
      return last;
    },
    close() {
      closed = true;
      held = [];
      unsubscribe();
      wake?.();
    },
  };
}
