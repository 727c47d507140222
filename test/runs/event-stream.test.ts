// The follower's guarantee — every event after `after` exactly once, in seq order — under a
// consumer that is slow or does not read at all, and its backpressure: the next store page is
// read only when the consumer has taken the previous one; live events for a busy consumer are
// held up to a bound, then dropped and re-read from the store. Real SQLite (in memory: the
// guarantee does not depend on the disk, and fsyncs would make this the slowest file of the run
// engine's tests), real EventLog.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Event } from '../../src/protocol/index.ts';
import type { EventListener } from '../../src/runs/event-log.ts';
import { EventLog } from '../../src/runs/event-log.ts';
import { type EventFollower, followEvents } from '../../src/runs/event-stream.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { nextTurn, sleep, until } from '../helpers/sleep.ts';
import { newSession } from '../store/fixtures/records.ts';

const SID = 'ses_follow';
let store: SqliteStore;
let log: EventLog;
/** The `after` of every page the follower read. */
let reads: number[];
/** The `limit` of every page the follower read. */
let limits: number[];
const followers: EventFollower[] = [];

beforeEach(async () => {
  store = new SqliteStore(':memory:');
  await store.migrate();
  await store.createSession(newSession(SID));
  log = new EventLog({ store, logger: silentLogger });
  reads = [];
  limits = [];
});
afterEach(async () => {
  for (const f of followers.splice(0)) f.close();
  await log.flush();
  await store.close();
});

/** The store as the follower sees it, counting reads. */
const countingStore = () => ({
  listEvents: (sessionId: string, after: number, limit: number) => {
    reads.push(after);
    limits.push(limit);
    return store.listEvents(sessionId, after, limit);
  },
});

async function seed(n: number, pad = ''): Promise<void> {
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
      type: 'session.notice' as const,
      data: { message: `stored ${i + j + 1}${pad}` },
    }));
    await store.appendEvents(SID, batch);
  }
}

/** A consumer that takes an event only when the test lets it (`release(n)`), like a socket that does not drain. */
function gatedConsumer() {
  const got: Event[] = [];
  let allowance = 0;
  let waiting: (() => void) | null = null;
  let changed: (() => void) | null = null;
  return {
    got,
    onEvent: (e: Event) => {
      got.push(e);
      changed?.();
      if (allowance > 0) {
        allowance--;
        return Promise.resolve();
      }
      return new Promise<void>((r) => {
        waiting = r;
      });
    },
    release(n = Number.POSITIVE_INFINITY) {
      allowance = n;
      if (waiting && allowance > 0) {
        allowance--;
        const w = waiting;
        waiting = null;
        w();
      }
    },
    /** Resolves once `pred` holds (checked on each delivery). */
    async until(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out; got ${got.length} events`);
        await Promise.race([
          new Promise<void>((r) => {
            changed = r;
          }),
          sleep(50),
        ]);
      }
    },
  };
}

const seqs = (events: Event[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Time for anything that should NOT happen to happen (a negative check). */
const settle = () => sleep(100);

describe('followEvents', () => {
  it('delivers the stored events after `after`, then the live ones, each once and in order', async () => {
    await seed(1_234);
    const c = gatedConsumer();
    c.release();
    followers.push(
      followEvents({ store: countingStore(), eventLog: log, sessionId: SID, after: 200, onEvent: c.onEvent }),
    );
    await c.until(() => c.got.length === 1_034);
    for (let i = 0; i < 20; i++) log.emit(SID, { type: 'session.notice', data: { message: `live ${i}` } });
    await c.until(() => c.got.length === 1_054);
    await settle();
    expect(seqs(c.got)).toEqual(range(201, 1_254));
  });

  it('reads the next page only when the consumer has taken the previous one', async () => {
    await seed(5_000);
    const c = gatedConsumer();
    followers.push(
      followEvents({
        store: countingStore(),
        eventLog: log,
        sessionId: SID,
        after: 0,
        onEvent: c.onEvent,
        pageSize: 100,
      }),
    );
    await c.until(() => c.got.length === 1);
    await settle();
    // A consumer that does not read: one (small) page read, one event handed over, nothing else.
    expect(reads).toEqual([0]);
    expect(c.got.length).toBe(1);
    c.release(150);
    await c.until(() => c.got.length === 151);
    await settle();
    expect(c.got.length).toBe(151);
    // Every read started where the consumer had got to: never a page ahead of it.
    expect(Math.max(...reads)).toBeLessThan(151);
    expect(reads.every((after, i) => i === 0 || after > reads[i - 1]!)).toBe(true);
    expect(Math.max(...limits)).toBeLessThanOrEqual(100);
    c.release();
    await c.until(() => c.got.length === 5_000);
    await settle();
    expect(seqs(c.got)).toEqual(range(1, 5_000));
    expect(reads.length).toBeLessThan(60); // pages of (up to) 100, not one read per event
  });

  it('sizes pages by bytes: big events are read a few at a time', async () => {
    await seed(300, 'x'.repeat(64 * 1024));
    const c = gatedConsumer();
    followers.push(
      followEvents({ store: countingStore(), eventLog: log, sessionId: SID, after: 0, onEvent: c.onEvent }),
    );
    await c.until(() => c.got.length === 1);
    await settle();
    expect(limits).toEqual([16]); // sizes unknown: a small first page
    c.release();
    await c.until(() => c.got.length === 300);
    await settle();
    expect(seqs(c.got)).toEqual(range(1, 300));
    // ~64 KB each: about 512 KB per read from then on
    expect(Math.max(...limits.slice(1))).toBeLessThanOrEqual(8);
  });

  it('drops live events past maxHeld for a busy consumer and re-reads them from the store', async () => {
    await seed(10);
    const c = gatedConsumer();
    let held = 0;
    // Count what the follower keeps: its listener is the only one on the session.
    const spyLog = {
      subscribe: (sessionId: string, l: EventListener) =>
        log.subscribe(sessionId, (e) => {
          held++;
          l(e);
        }),
    };
    followers.push(
      followEvents({
        store: countingStore(),
        eventLog: spyLog,
        sessionId: SID,
        after: 0,
        onEvent: c.onEvent,
        maxHeld: 50,
        pageSize: 100,
      }),
    );
    await c.until(() => c.got.length === 1);
    // 2,000 live events while the consumer is stuck on the first one
    for (let i = 0; i < 2_000; i++) log.emit(SID, { type: 'session.notice', data: { message: `live ${i}` } });
    await log.flush();
    expect(held).toBe(2_000);
    const readsBefore = reads.length;
    c.release();
    await c.until(() => c.got.length === 2_010);
    await settle();
    expect(seqs(c.got)).toEqual(range(1, 2_010));
    // They came from the store (pages of 100), not from an unbounded in-memory queue.
    expect(reads.length - readsBefore).toBeGreaterThanOrEqual(20);
  });

  it('keeps the guarantee when live events race a slow catch-up', async () => {
    await seed(3_000);
    const c = gatedConsumer();
    followers.push(
      followEvents({
        store: countingStore(),
        eventLog: log,
        sessionId: SID,
        after: 0,
        onEvent: async (e) => {
          await c.onEvent(e);
          if (e.seq % 97 === 0) await sleep(1); // a consumer that stalls now and then
        },
        maxHeld: 64,
        pageSize: 128,
      }),
    );
    c.release();
    // Live appends while the follower is still replaying, some awaited, some fire-and-forget.
    for (let i = 0; i < 1_000; i++) {
      if (i % 3 === 0) await log.append(SID, { type: 'session.notice', data: { message: `live ${i}` } });
      else
        log.emit(SID, {
          type: 'tool.output',
          runId: `r${i}`,
          data: { toolUseId: 't', stream: 'stdout', chunk: 'x' },
        });
      if (i % 50 === 0) await nextTurn();
    }
    await log.flush();
    const total = (await store.getSession(SID))!.lastSeq;
    await c.until(() => c.got.length >= total);
    await settle();
    expect(seqs(c.got)).toEqual(range(1, total));
  });

  it('a follower started at any moment of a stream of appends gets every event once, in order', async () => {
    // The race of subscribing and reading the store: followers start between appends (from the
    // beginning, or from where the store is at that moment, like a client that reconnects).
    const runs: Array<{ after: number; got: Event[] }> = [];
    for (let i = 0; i < 600; i++) {
      if (i % 40 === 0) {
        const after = i % 80 === 0 ? 0 : (await store.getSession(SID))!.lastSeq;
        const run = { after, got: [] as Event[] };
        runs.push(run);
        followers.push(
          followEvents({
            store,
            eventLog: log,
            sessionId: SID,
            after,
            onEvent: (e) => void run.got.push(e),
            pageSize: 32,
          }),
        );
      }
      if (i % 5 === 0) await log.append(SID, { type: 'session.notice', data: { message: `n${i}` } });
      else log.emit(SID, { type: 'session.notice', data: { message: `e${i}` } });
      if (i % 25 === 0) await nextTurn();
    }
    await log.flush();
    const total = (await store.getSession(SID))!.lastSeq;
    expect(total).toBe(600);
    await until(() => runs.every((r) => r.got.at(-1)?.seq === total), 'every follower to catch up');
    for (const r of runs) expect(seqs(r.got)).toEqual(range(r.after + 1, total));
  });

  it('fills a gap in the live events from the store', async () => {
    await seed(5);
    const listeners: EventListener[] = [];
    const fakeLog = {
      subscribe: (_: string, l: EventListener) => {
        listeners.push(l);
        return () => listeners.splice(listeners.indexOf(l), 1);
      },
    };
    const c = gatedConsumer();
    c.release();
    followers.push(
      followEvents({
        store: countingStore(),
        eventLog: fakeLog,
        sessionId: SID,
        after: 0,
        onEvent: c.onEvent,
      }),
    );
    await c.until(() => c.got.length === 5);
    // seq 6 and 7 are stored, but only 7 is published here (6's message was lost on the way)
    const [, seven] = await store.appendEvents(SID, [
      { type: 'session.notice', data: { message: 'six' } },
      { type: 'session.notice', data: { message: 'seven' } },
    ]);
    for (const l of listeners) l(seven!);
    await c.until(() => c.got.length === 7);
    expect(seqs(c.got)).toEqual(range(1, 7));
    expect(c.got[5]!.data).toEqual({ message: 'six' });
  });

  it('stops on close: no more deliveries, no more reads, unsubscribed', async () => {
    await seed(1_000);
    const c = gatedConsumer();
    const f = followEvents({
      store: countingStore(),
      eventLog: log,
      sessionId: SID,
      after: 0,
      onEvent: c.onEvent,
      pageSize: 100,
    });
    await c.until(() => c.got.length === 1);
    expect(log.subscriberCount(SID)).toBe(1);
    f.close();
    expect(log.subscriberCount(SID)).toBe(0);
    c.release();
    await log.append(SID, { type: 'session.notice', data: { message: 'after close' } });
    await settle();
    expect(c.got.length).toBe(1);
    expect(reads).toEqual([0]);
    expect(f.lastSeq).toBe(1);
  });

  it('reports a failing store or consumer through onError and stops', async () => {
    await seed(3);
    const errors: unknown[] = [];
    const f = followEvents({
      store: { listEvents: async () => Promise.reject(new Error('disk gone')) },
      eventLog: log,
      sessionId: SID,
      after: 0,
      onEvent: () => {},
      onError: (err) => errors.push(err),
    });
    followers.push(f);
    await settle();
    expect(String(errors[0])).toContain('disk gone');
    expect(log.subscriberCount(SID)).toBe(0);

    const got: number[] = [];
    const g = followEvents({
      store,
      eventLog: log,
      sessionId: SID,
      after: 0,
      onEvent: (e) => {
        got.push(e.seq);
        if (e.seq === 2) throw new Error('client gone');
      },
      onError: (err) => errors.push(err),
    });
    followers.push(g);
    await settle();
    expect(got).toEqual([1, 2]);
    expect(String(errors[1])).toContain('client gone');
  });
});
