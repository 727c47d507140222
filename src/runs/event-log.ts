// The event log: every event is stored (with its per-session seq) BEFORE it is published.
// Writes are group-committed: what is appended while a write is pending goes to the store in one
// transaction. Lifecycle events (run.started, message.user, …) are written on the next turn of the
// event loop; a batch of nothing but deltas (`text.delta`, `tool.output`) waits until
// `deltaFlushMs` after the previous write — checked as deltas arrive, so a busy turn does not hold
// it — so 1,000 streaming sessions cost ~100 writes a second, not one per tick. Deltas are merged
// while they wait (docs/api.md §7 allows coalescing).

import type { Logger } from '../observability/logger.ts';
import { COALESCIBLE, type Event } from '../protocol/index.ts';
import type { NewEvent, Store } from '../store/types.ts';

export type EventListener = (event: Event) => void;

interface Pending {
  event: NewEvent;
  waiters: Array<{ resolve: (e: Event) => void; reject: (err: unknown) => void }>;
}

/** Cross-instance fan-out (Redis in multi-instance mode); local-only when absent. */
export interface EventBroadcaster {
  publish(events: Event[]): void;
  onRemote(listener: (events: Event[]) => void): void;
  close(): Promise<void>;
}

export class EventLog {
  private store: Store;
  private logger: Logger;
  private pending = new Map<string, Pending[]>();
  /** Whether the pending batch holds an event that should not wait (a lifecycle event or an awaited append). */
  private urgent = false;
  private scheduled: 'now' | 'later' | null = null;
  private timer?: NodeJS.Timeout;
  private lastWriteAt = 0;
  private deltaFlushMs: number;
  private flushing: Promise<void> | null = null;
  private listeners = new Map<string, Set<EventListener>>();
  private broadcaster?: EventBroadcaster;
  private onStored?: (count: number) => void;

  constructor(opts: {
    store: Store;
    logger: Logger;
    broadcaster?: EventBroadcaster;
    onStored?: (n: number) => void;
    /** Minimum spacing of writes that carry only deltas (ms). */
    deltaFlushMs?: number;
  }) {
    this.deltaFlushMs = opts.deltaFlushMs ?? 10;
    this.store = opts.store;
    this.logger = opts.logger;
    this.broadcaster = opts.broadcaster;
    this.onStored = opts.onStored;
    this.broadcaster?.onRemote((events) => {
      for (const e of events) this.deliver(e);
    });
  }

  /** Appends an event; resolves with the stored event (seq assigned). Order per session = call order. */
  append(sessionId: string, event: NewEvent): Promise<Event> {
    return new Promise<Event>((resolve, reject) => this.enqueue(sessionId, event, { resolve, reject }));
  }

  /** Fire-and-forget append for high-rate deltas (no promise per delta); failures are logged. */
  emit(sessionId: string, event: NewEvent): void {
    this.enqueue(sessionId, event, undefined);
  }

  private enqueue(sessionId: string, event: NewEvent, waiter: Pending['waiters'][number] | undefined): void {
    let list = this.pending.get(sessionId);
    if (!list) {
      list = [];
      this.pending.set(sessionId, list);
    }
    const last = list[list.length - 1];
    const merged = last && merge(last.event, event);
    if (last && merged) {
      last.event = merged;
      if (waiter) last.waiters.push(waiter);
    } else {
      list.push({ event, waiters: waiter ? [waiter] : [] });
    }
    if (waiter || !COALESCIBLE.has(event.type)) this.urgent = true;
    this.schedule();
  }

  /**
   * Publishes events a store transaction already stored (a run's end with its workflow's status, a
   * new workflow's first events): fan-out only, to local subscribers and other instances. Call
   * `flush()` before such a transaction so the session's earlier events are published first.
   */
  publish(events: Event[]): void {
    if (events.length === 0) return;
    for (const e of events) this.deliver(e);
    this.onStored?.(events.length);
    this.broadcaster?.publish(events);
  }

  /** Resolves when everything appended so far is stored and published. */
  async flush(): Promise<void> {
    while (this.pending.size > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.runFlush();
    }
  }

  subscribe(sessionId: string, listener: EventListener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) {
      set = new Set();
      this.listeners.set(sessionId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }

  subscriberCount(sessionId: string): number {
    return this.listeners.get(sessionId)?.size ?? 0;
  }

  private schedule(): void {
    if (this.flushing || this.pending.size === 0) return; // runFlush re-schedules when the write ends
    if (this.urgent) {
      if (this.scheduled === 'now') return;
      if (this.timer) clearTimeout(this.timer);
      this.scheduled = 'now';
      setImmediate(() => this.fire());
      return;
    }
    if (this.scheduled === 'now') return;
    const wait = this.lastWriteAt + this.deltaFlushMs - performance.now();
    if (this.scheduled === 'later') {
      // Due while the loop is still busy (its timer cannot fire before the poll phase ends): go now.
      if (wait <= 0) this.fireSoon();
      return;
    }
    this.scheduled = 'later';
    if (wait <= 0) this.fireSoon();
    else this.timer = setTimeout(() => this.fire(), wait);
  }

  /**
   * Writes the deltas at the end of the current task, not on a later turn. Under load one turn of the
   * event loop is long — its poll phase reads every model stream that has data, 40–100 ms at 1,000
   * streams on 2 cores — and a write waiting for a timer or the check phase waited for all of it:
   * ≈ 10 writes a second of 1,000 sessions each, the whole of a 100–150 ms p50 delay (BENCHMARKS.md,
   * streaming). Now a write goes out as soon as deltaFlushMs has passed, checked as deltas arrive.
   */
  private fireSoon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = 'now';
    queueMicrotask(() => this.fire());
  }

  private fire(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = null;
    void this.runFlush();
  }

  private runFlush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const batch = this.pending;
    this.pending = new Map();
    this.urgent = false;
    if (batch.size === 0) return Promise.resolve();
    this.lastWriteAt = performance.now();
    this.flushing = this.write(batch).finally(() => {
      this.flushing = null;
      // Whatever arrived while writing goes out next, as one batch.
      if (this.pending.size > 0) this.schedule();
    });
    return this.flushing;
  }

  private async write(batch: Map<string, Pending[]>): Promise<void> {
    const sessions = [...batch.keys()];
    const input = sessions.map((sessionId) => ({
      sessionId,
      events: batch.get(sessionId)!.map((p) => p.event),
    }));
    let results: Array<Event[] | Error>;
    try {
      results = await this.store.appendEventBatches(input);
    } catch (batchErr) {
      // One bad session (e.g. deleted meanwhile) must not fail the others: retry one by one.
      results = [];
      for (const b of input) {
        try {
          results.push(await this.store.appendEvents(b.sessionId, b.events));
        } catch (err) {
          results.push(err instanceof Error ? err : new Error(String(batchErr)));
        }
      }
    }
    let stored = 0;
    const published: Event[] = [];
    sessions.forEach((sessionId, i) => {
      const pendings = batch.get(sessionId)!;
      const res = results[i];
      if (res instanceof Error || res === undefined) {
        const err = res ?? new Error('event not stored');
        for (const p of pendings) for (const w of p.waiters) w.reject(err);
        if (pendings.some((p) => p.waiters.length === 0))
          this.logger.warn('event append failed', { sessionId, err });
        return;
      }
      pendings.forEach((p, j) => {
        const ev = res[j]!;
        stored += 1;
        published.push(ev);
        this.deliver(ev);
        for (const w of p.waiters) w.resolve(ev);
      });
    });
    if (stored > 0) this.onStored?.(stored);
    if (published.length > 0) this.broadcaster?.publish(published);
  }

  private deliver(event: Event): void {
    const set = this.listeners.get(event.sessionId);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(event);
      } catch (err) {
        this.logger.warn('event listener failed', { err });
      }
    }
  }
}

const MAX_MERGED_CHARS = 64 * 1024;

/**
 * `prev` and `next` as one event when both are deltas of the same stream, else undefined. Builds a
 * new event: neither argument is changed (the caller's objects are not the log's to mutate).
 */
function merge(prev: NewEvent, next: NewEvent): NewEvent | undefined {
  if (prev.runId !== next.runId) return undefined;
  if (prev.type === 'text.delta' && next.type === 'text.delta') {
    if (prev.data.text.length >= MAX_MERGED_CHARS) return undefined;
    return { ...prev, data: { text: prev.data.text + next.data.text } };
  }
  if (
    prev.type === 'tool.output' &&
    next.type === 'tool.output' &&
    prev.data.toolUseId === next.data.toolUseId &&
    prev.data.stream === next.data.stream
  ) {
    if (prev.data.chunk.length >= MAX_MERGED_CHARS) return undefined;
    return { ...prev, data: { ...prev.data, chunk: prev.data.chunk + next.data.chunk } };
  }
  return undefined;
}
