// The SQLite store's commits (src/store/sqlite/db.ts): a write is fsynced inside its COMMIT and its
// writer is told before any other task of the event loop can read it; streamed deltas commit at the
// end of the current task; and no acknowledgement depends on libuv's thread pool (which agents can
// fill: FIFOs, huge trees).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDb } from '../../src/store/sqlite/db.ts';

describe('SQLite commits', () => {
  const dirs: string[] = [];
  const dbs: SqliteDb[] = [];
  const open = async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'store-durable-'));
    dirs.push(dir);
    const db = new SqliteDb(path.join(dir, 'agent.db'));
    db.raw.exec('CREATE TABLE t (v TEXT)');
    dbs.push(db);
    return db;
  };
  afterEach(async () => {
    for (const db of dbs.splice(0)) db.close();
    for (const d of dirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
  });
  const insert = (db: SqliteDb, v: string, durable = true) =>
    db.write(() => db.run('INSERT INTO t VALUES (?)', v), { durable });
  const rows = (db: SqliteDb) => db.all('SELECT v FROM t').map((r) => r.v);

  it('a write is never visible to another task before its writer has been told', async () => {
    // The property a flush after COMMIT (off the event loop) broke: an HTTP read saw a run completed
    // while the server had not yet finished it (CI: test/workflows/cleanup.test.ts).
    const db = await open();
    const told = new Set<string>();
    const seenEarly: string[] = [];
    let stop = false;
    let stopped: () => void = () => {};
    const watcherDone = new Promise<void>((r) => {
      stopped = r;
    });
    const watch = () => {
      if (stop) return stopped();
      for (const v of rows(db)) if (!told.has(String(v))) seenEarly.push(String(v));
      setImmediate(watch);
    };
    setImmediate(watch);
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200; i++) {
      const v = `w${i}`;
      writes.push(insert(db, v).then(() => told.add(v)));
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(writes);
    stop = true;
    await watcherDone; // (before the database is closed)
    expect(rows(db)).toHaveLength(200);
    expect(seenEarly).toEqual([]);
  });

  it('a durable commit is fsynced inside COMMIT (synchronous=FULL); a batch of deltas only is not', async () => {
    const db = await open();
    await insert(db, 'delta', false);
    expect(db.get('PRAGMA synchronous')?.synchronous).toBe(1); // NORMAL for that batch
    await insert(db, 'event');
    expect(db.get('PRAGMA synchronous')?.synchronous).toBe(2); // FULL
  });

  it('a streamed delta commits at the end of the current task; other writes on the next turn (group commit)', async () => {
    const db = await open();
    const durable = insert(db, 'event');
    const delta = insert(db, 'delta', false);
    for (let i = 0; i < 5; i++) await Promise.resolve(); // microtasks only
    // the delta's commit took the queued event along (they share the queue)
    expect(rows(db)).toEqual(['event', 'delta']);
    await expect(delta).resolves.toBe(1);
    await expect(durable).resolves.toBe(1);
    const later = insert(db, 'later');
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(rows(db)).toHaveLength(2); // not yet: the next turn
    await later;
    expect(rows(db)).toHaveLength(3);
  });

  it('a thread pool held by blocked fs calls (FIFOs an agent made) does not hold acknowledgements', async () => {
    // Every libuv pool thread stuck in open() of a FIFO nobody writes: what a flush queued on that
    // pool would wait behind. A write's fsync is not on it.
    const db = await open();
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'store-durable-'));
    dirs.push(dir);
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const stuck = Array.from({ length: threads }, () => fsp.open(fifo, 'r'));
    let poolFree = false;
    void fsp.stat(dir).then(() => {
      poolFree = true;
    });
    try {
      const late = new Promise((_, reject) =>
        setTimeout(() => reject(new Error('not acknowledged in 3 s')), 3_000),
      );
      await expect(Promise.race([insert(db, 'acknowledged'), late])).resolves.toBe(1);
      expect(poolFree).toBe(false); // the pool really was held all along
    } finally {
      const writer = fs.openSync(fifo, 'r+'); // releases the blocked opens
      for (const h of await Promise.all(stuck)) await h.close();
      fs.closeSync(writer);
    }
  });
});
