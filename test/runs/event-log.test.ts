// EventLog at its own API. Its guarantees: per session, seqs are gap-free and in call order
// however appends interleave (many sessions, awaited and fire-and-forget, group-committed into one
// store write); an event is published only after it is stored, so a subscriber can always read
// what it was handed; deltas of one stream are merged while they wait; and a session whose write
// fails fails alone. Real SQLite; the store is wrapped only to count and to break writes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/observability/logger.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Event } from '../../src/protocol/index.ts';
import { type EventBroadcaster, EventLog } from '../../src/runs/event-log.ts';
import { NotFoundError } from '../../src/store/errors.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import type { NewEvent, Store } from '../../src/store/types.ts';
import { nextTurn } from '../helpers/sleep.ts';
import { newSession } from '../store/fixtures/records.ts';

let store: SqliteStore;
/** Store writes the EventLog made: the number of sessions in each. */
let writes: number[];
/** Sessions whose next write fails (as if deleted meanwhile, or the disk failed for them). */
let failing: Set<string>;
let log: EventLog;
let warnings: string[];

/** The real store, counting the EventLog's writes and failing the ones of `failing` sessions. */
function instrumented(inner: SqliteStore): Store {
  const check = (sessionId: string) => {
    if (failing.has(sessionId)) throw new NotFoundError(`session ${sessionId} not found`);
  };
  const overrides: Partial<Store> = {
    appendEventBatches: async (batches) => {
      writes.push(batches.length);
      for (const b of batches) check(b.sessionId);
      return inner.appendEventBatches(batches);
    },
    appendEvents: async (sessionId, events) => {
      check(sessionId);
      return inner.appendEvents(sessionId, events);
    },
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof Store];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const recordingLogger: Logger = {
  ...silentLogger,
  warn: (msg: string) => void warnings.push(msg),
  child: () => recordingLogger,
};

beforeEach(async () => {
  store = new SqliteStore(':memory:');
  await store.migrate();
  writes = [];
  failing = new Set();
  warnings = [];
  log = new EventLog({ store: instrumented(store), logger: recordingLogger });
});
afterEach(async () => {
  await log.flush();
  await store.close();
});

const notice = (message: string): NewEvent => ({ type: 'session.notice', data: { message } });
const delta = (text: string, runId = 'r1'): NewEvent => ({ type: 'text.delta', runId, data: { text } });
const output = (chunk: string, toolUseId = 't1', stream: 'stdout' | 'stderr' = 'stdout'): NewEvent => ({
  type: 'tool.output',
  runId: 'r1',
  data: { toolUseId, stream, chunk },
});
const stored = (sessionId: string) => store.listEvents(sessionId, 0, 100_000);
/** An event's payload, read loosely (the tests mix event types). */
const data = (e: Event): Record<string, unknown> => e.data;

describe('EventLog ordering', () => {
  it('per session, seqs are gap-free and in call order under concurrent appends of many sessions', async () => {
    const sessions = Array.from({ length: 20 }, (_, i) => `s${i}`);
    for (const s of sessions) await store.createSession(newSession(s));
    const PER_SESSION = 150;
    const awaited: Array<Promise<Event>> = [];
    // Interleaved: round-robin over the sessions, awaited and fire-and-forget appends mixed, and
    // a turn of the event loop now and then, so writes are pending while more is appended.
    for (let i = 0; i < PER_SESSION; i++) {
      for (const s of sessions) {
        const e = notice(`${s}:${i}`);
        if (i % 3 === 0) awaited.push(log.append(s, e));
        else log.emit(s, e);
      }
      if (i % 10 === 0) await nextTurn();
    }
    const results = await Promise.all(awaited);
    await log.flush();

    for (const s of sessions) {
      const events = await stored(s);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: PER_SESSION }, (_, i) => i + 1));
      expect(events.map((e) => data(e).message)).toEqual(
        Array.from({ length: PER_SESSION }, (_, i) => `${s}:${i}`),
      );
    }
    // What `append` resolved with is what was stored.
    for (const r of results) expect(data(r).message).toBe(`${r.sessionId}:${r.seq - 1}`);
    // Group commit: writes carried many sessions at once, far fewer writes than appends.
    expect(writes.length).toBeLessThan((sessions.length * PER_SESSION) / 10);
    expect(Math.max(...writes)).toBe(sessions.length);
  });

  it('publishes an event only after it is stored: every subscriber can read what it is handed', async () => {
    await store.createSession(newSession('s1'));
    const problems: string[] = [];
    const seen: number[] = [];
    log.subscribe('s1', (e) => {
      seen.push(e.seq);
      // Read the store synchronously, at the moment of delivery.
      const row = store.db.get('SELECT type, data FROM events WHERE session_id = ? AND seq = ?', 's1', e.seq);
      if (!row) problems.push(`seq ${e.seq} published before it was stored`);
      else if (row.type !== e.type)
        problems.push(`seq ${e.seq} stored as ${String(row.type)}, published as ${e.type}`);
    });
    for (let i = 0; i < 300; i++) {
      if (i % 7 === 0) await log.append('s1', notice(`n${i}`));
      else if (i % 2 === 0) log.emit('s1', delta(`d${i}`));
      else log.emit('s1', output(`o${i}`));
    }
    await log.flush();
    expect(problems).toEqual([]);
    const all = await stored('s1');
    expect(seen).toEqual(all.map((e) => e.seq)); // each published once, in seq order
  });

  it('flush() resolves when everything appended so far is stored and published', async () => {
    await store.createSession(newSession('s1'));
    let published = 0;
    log.subscribe('s1', () => published++);
    for (let i = 0; i < 50; i++) log.emit('s1', notice(`n${i}`));
    await log.flush();
    expect((await stored('s1')).length).toBe(50);
    expect(published).toBe(50);
  });

  it('hands what it stored to the broadcaster after storing it, and delivers remote events to local subscribers', async () => {
    await store.createSession(newSession('s1'));
    const published: Event[][] = [];
    let remote: (events: Event[]) => void = () => {};
    const broadcaster: EventBroadcaster = {
      publish: (events) => {
        for (const e of events)
          expect(
            store.db.get('SELECT 1 AS ok FROM events WHERE session_id = ? AND seq = ?', 's1', e.seq),
          ).toBeDefined();
        published.push(events);
      },
      onRemote: (l) => {
        remote = l;
      },
      close: async () => {},
    };
    const withPeers = new EventLog({ store, logger: silentLogger, broadcaster });
    const local: number[] = [];
    withPeers.subscribe('s1', (e) => local.push(e.seq));
    await withPeers.append('s1', notice('here'));
    expect(published.flat().map((e) => e.seq)).toEqual([1]);
    remote([
      {
        seq: 2,
        sessionId: 's1',
        type: 'session.notice',
        ts: new Date().toISOString(),
        data: { message: 'there' },
      },
    ]);
    expect(local).toEqual([1, 2]);
  });
});

describe('EventLog coalescing', () => {
  it('merges the deltas of one stream that wait together; other streams, runs and event types break the merge', async () => {
    await store.createSession(newSession('s1'));
    // All in one turn: nothing is written before the next one.
    log.emit('s1', delta('Hel'));
    log.emit('s1', delta('lo, '));
    log.emit('s1', delta('world'));
    log.emit('s1', delta('other run', 'r2'));
    log.emit('s1', output('a'));
    log.emit('s1', output('b'));
    log.emit('s1', output('E', 't1', 'stderr'));
    log.emit('s1', output('c', 't2'));
    log.emit('s1', notice('between'));
    log.emit('s1', delta('after'));
    await log.flush();
    expect(
      (await stored('s1')).map((e) => [e.type, data(e).text ?? data(e).chunk ?? data(e).message]),
    ).toEqual([
      ['text.delta', 'Hello, world'],
      ['text.delta', 'other run'],
      ['tool.output', 'ab'],
      ['tool.output', 'E'],
      ['tool.output', 'c'],
      ['session.notice', 'between'],
      ['text.delta', 'after'],
    ]);
  });

  it('an awaited append merged into a pending delta resolves with the merged event', async () => {
    await store.createSession(newSession('s1'));
    log.emit('s1', delta('a'));
    const merged = log.append('s1', delta('b'));
    await expect(merged).resolves.toMatchObject({ seq: 1, data: { text: 'ab' } });
  });

  it('stops merging a delta at 64 KiB', async () => {
    await store.createSession(newSession('s1'));
    const chunk = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 10; i++) log.emit('s1', delta(chunk));
    await log.flush();
    const lengths = (await stored('s1')).map((e) => String(data(e).text).length);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(10 * chunk.length);
    expect(lengths.every((n) => n <= 64 * 1024)).toBe(true);
    expect(lengths.length).toBeGreaterThan(1);
  });

  it('a batch of only deltas waits for deltaFlushMs after the last write; a lifecycle event takes it along at once', async () => {
    await store.createSession(newSession('s1'));
    const slow = new EventLog({ store: instrumented(store), logger: silentLogger, deltaFlushMs: 60_000 });
    await slow.append('s1', notice('first')); // a write now: the next delta-only one is due in 60 s
    slow.emit('s1', delta('waiting'));
    for (let i = 0; i < 5; i++) await nextTurn();
    expect((await stored('s1')).map((e) => e.type)).toEqual(['session.notice']);
    await slow.append('s1', notice('lifecycle'));
    expect((await stored('s1')).map((e) => e.type)).toEqual([
      'session.notice',
      'text.delta',
      'session.notice',
    ]);
  });

  it('a batch of deltas that falls due during a long task is stored and published at its end, not on a later turn', async () => {
    // Under load one turn of the event loop is long (its poll phase reads every model stream): a
    // write that waited for a timer or the next turn waited for all of that.
    await store.createSession(newSession('s1'));
    const fast = new EventLog({ store: instrumented(store), logger: silentLogger, deltaFlushMs: 5 });
    const published: string[] = [];
    fast.subscribe('s1', (e) => {
      if (e.type === 'text.delta') published.push(String(data(e).text));
    });
    await fast.append('s1', notice('first'));
    fast.emit('s1', delta('a')); // not due yet: waits for its window
    const end = performance.now() + 20;
    while (performance.now() < end) {} // one long task, the timer cannot fire
    fast.emit('s1', delta('b')); // due now
    for (let i = 0; i < 20; i++) await Promise.resolve(); // microtasks only: no timer, no next turn
    const seen = [...published];
    await fast.flush(); // (before asserting: a failing run must not leave a write for the next test)
    expect(seen).toEqual(['ab']);
    expect((await stored('s1')).map((e) => e.type)).toEqual(['session.notice', 'text.delta']);
  });
});

describe('EventLog failures', () => {
  it('a session whose write fails fails alone: the others of the same batch are stored and published', async () => {
    for (const s of ['ok1', 'bad', 'ok2']) await store.createSession(newSession(s));
    const published: string[] = [];
    for (const s of ['ok1', 'bad', 'ok2']) log.subscribe(s, (e) => published.push(`${s}:${e.seq}`));
    failing.add('bad');
    // One turn: one batch with all three sessions.
    const ok1 = log.append('ok1', notice('a'));
    const bad = log.append('bad', notice('b'));
    log.emit('bad', delta('lost'));
    const ok2 = log.append('ok2', notice('c'));
    await expect(ok1).resolves.toMatchObject({ seq: 1 });
    await expect(bad).rejects.toBeInstanceOf(NotFoundError);
    await expect(ok2).resolves.toMatchObject({ seq: 1 });
    await log.flush();
    expect(published.sort()).toEqual(['ok1:1', 'ok2:1']);
    expect(await stored('bad')).toEqual([]);
    expect(writes[0]).toBe(3); // they were in one batch
    // The fire-and-forget one could not be reported to its caller: it is logged.
    expect(warnings).toContain('event append failed');

    // The session recovers once its writes succeed again; its seqs continue without a gap.
    failing.delete('bad');
    await log.append('bad', notice('again'));
    expect((await stored('bad')).map((e) => e.seq)).toEqual([1]);
  });

  it('a listener that throws does not stop delivery to the others', async () => {
    await store.createSession(newSession('s1'));
    const got: number[] = [];
    log.subscribe('s1', () => {
      throw new Error('listener bug');
    });
    log.subscribe('s1', (e) => got.push(e.seq));
    await log.append('s1', notice('x'));
    await log.append('s1', notice('y'));
    expect(got).toEqual([1, 2]);
    expect(warnings).toContain('event listener failed');
  });
});
