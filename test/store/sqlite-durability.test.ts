// The SQLite store's durability (src/store/sqlite/db.ts): COMMIT does not fsync; a write settles
// only after an fdatasync of the WAL that started after its COMMIT returned, on a thread of its own;
// writes settle in commit order (a streamed delta never before an earlier durable event); a failed
// flush acknowledges nothing of the commits that waited for it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp, { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteDb } from '../../src/store/sqlite/db.ts';
import { WalFlusher } from '../../src/store/sqlite/wal-flusher.ts';

/** A WAL flush the test ends by hand. */
function heldSyncs() {
  const calls: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  return {
    calls,
    syncWal: () =>
      new Promise<void>((resolve, reject) => {
        calls.push({ resolve, reject });
      }),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('SQLite durability', () => {
  const dirs: string[] = [];
  const dbs: SqliteDb[] = [];
  const open = async (opts: ConstructorParameters<typeof SqliteDb>[1] = {}) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'store-durable-'));
    dirs.push(dir);
    const db = new SqliteDb(path.join(dir, 'agent.db'), opts);
    db.raw.exec('CREATE TABLE t (v TEXT)');
    dbs.push(db);
    return db;
  };
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const db of dbs.splice(0)) db.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const insert = (db: SqliteDb, v: string, durable = true) =>
    db.write(() => db.run('INSERT INTO t VALUES (?)', v), { durable });

  it('a write settles after a flush that started after its commit, not one already running', async () => {
    const s = heldSyncs();
    const db = await open({ syncWal: s.syncWal });
    const settled: string[] = [];
    void insert(db, 'a').then(() => settled.push('a'));
    await tick();
    expect(s.calls).toHaveLength(1); // a's flush started
    void insert(db, 'b').then(() => settled.push('b'));
    void insert(db, 'c').then(() => settled.push('c'));
    await tick();
    // b and c are committed (visible) but their flush has not started: the running one began before
    expect(db.all('SELECT v FROM t').map((r) => r.v)).toEqual(['a', 'b', 'c']);
    expect(s.calls).toHaveLength(1);
    expect(settled).toEqual([]);
    s.calls[0]!.resolve();
    await tick();
    expect(settled).toEqual(['a']);
    expect(s.calls).toHaveLength(2); // one flush for both b and c
    s.calls[1]!.resolve();
    await tick();
    expect(settled).toEqual(['a', 'b', 'c']);
  });

  it('a streamed delta (not durable) does not wait for a flush, but never settles before an earlier write', async () => {
    const s = heldSyncs();
    const db = await open({ syncWal: s.syncWal });
    const settled: string[] = [];
    await insert(db, 'delta-0', false).then(() => settled.push('delta-0')); // nothing pending: at once
    expect(s.calls).toHaveLength(0);
    void insert(db, 'event').then(() => settled.push('event'));
    await tick();
    void insert(db, 'delta-1', false).then(() => settled.push('delta-1'));
    await tick();
    expect(s.calls).toHaveLength(1); // the delta asked for no flush of its own
    expect(settled).toEqual(['delta-0']);
    s.calls[0]!.resolve();
    await tick();
    expect(settled).toEqual(['delta-0', 'event', 'delta-1']);
  });

  it('a streamed delta commits at the end of the current task; other writes on the next turn (group commit)', async () => {
    const db = await open({ syncWal: async () => {} });
    const durable = insert(db, 'event');
    const delta = insert(db, 'delta', false);
    for (let i = 0; i < 5; i++) await Promise.resolve(); // microtasks only
    // the delta's commit took the queued event along (they share the queue)
    expect(db.all('SELECT v FROM t').map((r) => r.v)).toEqual(['event', 'delta']);
    await expect(delta).resolves.toBe(1);
    await expect(durable).resolves.toBe(1);
    const later = insert(db, 'later');
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(db.all('SELECT v FROM t').map((r) => r.v)).toHaveLength(2); // not yet: the next turn
    await later;
    expect(db.all('SELECT v FROM t').map((r) => r.v)).toHaveLength(3);
  });

  it('a failed flush rejects every write that waited for it; the next flush serves later writes', async () => {
    const s = heldSyncs();
    const db = await open({ syncWal: s.syncWal });
    const a = insert(db, 'a');
    const failing = db.write(() => {
      throw new Error('job failed');
    });
    await tick();
    s.calls[0]!.reject(new Error('EIO'));
    await expect(a).rejects.toThrow('EIO');
    await expect(failing).rejects.toThrow('job failed'); // its own error, not the flush's
    const b = insert(db, 'b');
    await tick();
    s.calls[1]!.resolve();
    await expect(b).resolves.toBe(1);
  });

  it('a flush that throws at once (the WAL cannot be opened) fails its writes instead of leaving them pending', async () => {
    let calls = 0;
    const db = await open({
      syncWal: () => {
        if (++calls === 1) throw new Error('EACCES');
        return Promise.resolve();
      },
    });
    await expect(insert(db, 'a')).rejects.toThrow('EACCES');
    await expect(insert(db, 'b')).resolves.toBe(1); // the next flush is tried again
  });

  it('by default flushes the WAL on a thread of its own, not on the thread pool that fs calls share', async () => {
    const pool = vi.spyOn(fs, 'fdatasync');
    const flushes = vi.spyOn(WalFlusher.prototype, 'flush');
    const db = await open();
    await insert(db, 'a');
    await insert(db, 'b');
    expect(flushes).toHaveBeenCalledTimes(2);
    expect(pool).not.toHaveBeenCalled();
    expect(db.get('PRAGMA synchronous')?.synchronous).toBe(1); // NORMAL: COMMIT itself does not fsync
  });

  it('a thread pool held by blocked fs calls (FIFOs an agent made) does not hold acknowledgements', async () => {
    // Every libuv pool thread stuck in open() of a FIFO nobody writes: what a flush queued on that
    // pool would wait behind. The flusher's own thread is not in it.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'store-durable-'));
    dirs.push(dir);
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const db = await open(); // (before: opening it uses the pool)
    await insert(db, 'first'); // the flusher's thread is up
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

  it('a flusher whose thread is gone is replaced at the next flush', async () => {
    const flushes = vi.spyOn(WalFlusher.prototype, 'flush');
    const db = await open();
    await insert(db, 'a');
    const gone = vi.spyOn(WalFlusher.prototype, 'gone', 'get').mockReturnValueOnce(true);
    await insert(db, 'b');
    expect(gone).toHaveBeenCalled();
    expect(flushes.mock.contexts).toHaveLength(2);
    expect(flushes.mock.contexts[1]).not.toBe(flushes.mock.contexts[0]); // a new flusher took over
  });

  it('the flusher syncs the file it was given: a missing WAL fails the flush, a closed flusher refuses', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'store-durable-'));
    dirs.push(dir);
    const missing = new WalFlusher(path.join(dir, 'nope-wal'));
    await expect(missing.flush()).rejects.toThrow(/ENOENT/);
    await missing.close();
    const file = path.join(dir, 'x-wal');
    fs.writeFileSync(file, 'data');
    const flusher = new WalFlusher(file);
    await expect(Promise.all([flusher.flush(), flusher.flush()])).resolves.toEqual([undefined, undefined]);
    await flusher.close();
    await expect(flusher.flush()).rejects.toThrow(/closed/);
  });

  it('a flush that fails after close() flushed the WAL itself (SQLite deleted the file) fails nothing', async () => {
    // The race CI met: the first flush reached the flusher's thread after close() had removed the WAL.
    const s = heldSyncs();
    const db = await open({ syncWal: s.syncWal });
    const late = insert(db, 'late');
    db.close();
    dbs.splice(dbs.indexOf(db), 1);
    s.calls[0]!.reject(new Error("ENOENT: no such file or directory, open 'agent.db-wal'"));
    await expect(late).resolves.toBe(1);
  });

  it('close() settles the writes it commits once they are flushed', async () => {
    const s = heldSyncs();
    const db = await open({ syncWal: s.syncWal });
    const late = insert(db, 'late');
    db.close();
    dbs.splice(dbs.indexOf(db), 1);
    let done = false;
    void late.then(() => {
      done = true;
    });
    await tick();
    expect(done).toBe(false);
    s.calls[0]!.resolve();
    await expect(late).resolves.toBe(1);
  });
});
