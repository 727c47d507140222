// One SQLite connection (node:sqlite, synchronous) with a prepared-statement cache and group
// commit: write jobs queued within the same event-loop turn run in ONE transaction, each in
// its own savepoint (so one failing job does not undo the others), and every job's promise
// settles only once its transaction is on disk: after COMMIT and an fdatasync of the WAL that
// started after that COMMIT returned (see #commit for why the fsync is not SQLite's own).
import fs from 'node:fs';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Value } from '../shared/columns.ts';
import type { Row } from '../shared/rows.ts';
import { WalFlusher } from './wal-flusher.ts';

/** Most jobs per transaction; the rest wait for the next turn so the event loop keeps moving. */
const MAX_BATCH = 512;

interface Job {
  fn: () => unknown;
  /** False for writes that may skip the fsync (streamed deltas): see #commit. */
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export type Param = Value | bigint | undefined;

function bind(params: Param[]): SQLInputValue[] {
  return params.map((v) => (v === undefined ? null : typeof v === 'boolean' ? (v ? 1 : 0) : v));
}

export interface SqliteOptions {
  /** Busy timeout when another process holds the write lock (ms). */
  busyTimeoutMs?: number;
  /** Makes the WAL durable (default: fdatasync of it on a thread of its own, ./wal-flusher.ts). Tests hold or fail it. */
  syncWal?: () => Promise<void>;
}

export class SqliteDb {
  readonly raw: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #queue: Job[] = [];
  #scheduled = false;
  #soon = false;
  #closed = false;
  readonly #file: string;
  readonly #syncWal: (() => Promise<void>) | undefined;
  #flusher: WalFlusher | undefined;
  /** The WAL's fdatasync in flight, and the one that starts when it ends (shared by the commits meanwhile). */
  #syncing: Promise<void> | undefined;
  #nextSync: Promise<void> | undefined;
  /** Commits whose jobs are not settled yet, and the last one's settlement (jobs settle in commit order). */
  #unsettled = 0;
  #settled: Promise<void> = Promise.resolve();
  /** close() fdatasynced the WAL: every commit before it is on disk. */
  #flushedAtClose = false;

  constructor(file: string, options: SqliteOptions = {}) {
    this.#file = file;
    this.raw = new DatabaseSync(file);
    this.raw.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    const memory = this.raw.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode !== 'wal';
    this.#syncWal = memory ? undefined : (options.syncWal ?? (() => this.#flushWal()));
    // Its thread starts now, not at the first write: that write (a server's first 202) would wait
    // for a worker to boot (tens of ms). It opens the WAL at its first flush, after a commit.
    if (!memory && !options.syncWal) this.#flusher = new WalFlusher(`${file}-wal`);
    // NORMAL: COMMIT writes the WAL without fsyncing it; the fsync that makes a write durable is
    // ours, off the event loop (#commit). Checkpoints still sync the WAL before copying it and the
    // database file after (SQLite does that in NORMAL too).
    this.raw.exec('PRAGMA synchronous = NORMAL');
    this.raw.exec('PRAGMA foreign_keys = ON');
    this.raw.exec('PRAGMA temp_store = MEMORY');
    // Streaming rewrites the same hot pages (each session's newest events) many times a second; a
    // larger WAL between checkpoints copies each of them to the database file once, not every ~4 MB.
    this.raw.exec('PRAGMA wal_autocheckpoint = 16384');
  }

  statement(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.raw.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  get(sql: string, ...params: Param[]): Row | undefined {
    return this.statement(sql).get(...bind(params)) as Row | undefined;
  }

  all(sql: string, ...params: Param[]): Row[] {
    return this.statement(sql).all(...bind(params)) as Row[];
  }

  run(sql: string, ...params: Param[]): number {
    return Number(this.statement(sql).run(...bind(params)).changes);
  }

  /**
   * Runs `fn` inside a write transaction shared with the other jobs of this turn. `fn` must be
   * synchronous and must not open transactions itself. Resolves with its result after COMMIT.
   */
  write<T>(fn: () => T, opts: { durable?: boolean } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        fn,
        durable: opts.durable ?? true,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (opts.durable === false) {
        // Streamed deltas: the event log already waited its window for them, and under load the
        // next turn is far off (src/runs/event-log.ts, fireSoon) — committed at the end of this task.
        if (!this.#soon) {
          this.#soon = true;
          queueMicrotask(() => {
            this.#soon = false;
            this.#flushOne();
          });
        }
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flushOne());
      }
    });
  }

  #flushOne(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    this.#commit(this.#queue.splice(0, MAX_BATCH));
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flushOne());
    }
  }

  /** Commits everything queued right now (used by close). */
  flush(): void {
    while (this.#queue.length > 0) this.#commit(this.#queue.splice(0, MAX_BATCH));
  }

  #commit(batch: Job[]): void {
    try {
      this.statement('BEGIN IMMEDIATE').run();
    } catch (error) {
      for (const job of batch) job.reject(error);
      return;
    }
    const single = batch.length === 1;
    const results: Array<{ job: Job; ok: boolean; value: unknown }> = [];
    for (const job of batch) {
      if (!single) this.statement('SAVEPOINT job').run();
      try {
        const value = job.fn();
        if (!single) this.statement('RELEASE job').run();
        results.push({ job, ok: true, value });
      } catch (error) {
        if (!this.raw.isTransaction) {
          // SQLite aborted the whole transaction (I/O error, disk full, …): nothing survives.
          for (const j of batch) j.reject(error);
          return;
        }
        if (!single) {
          this.statement('ROLLBACK TO job').run();
          this.statement('RELEASE job').run();
        }
        results.push({ job, ok: false, value: error });
      }
    }
    const anyOk = results.some((r) => r.ok);
    try {
      this.statement(anyOk ? 'COMMIT' : 'ROLLBACK').run();
    } catch (error) {
      if (this.raw.isTransaction) this.statement('ROLLBACK').run();
      for (const job of batch) job.reject(error);
      return;
    }
    // Durability. With synchronous=FULL, SQLite would fsync the WAL inside COMMIT: the event loop
    // (every stream, every request) stood still for each flush — 0.3 ms on this machine's disk,
    // milliseconds on a network volume, once per group commit. Instead the WAL is fdatasynced on a
    // thread of its own (./wal-flusher.ts), one flush for all the commits that land while the
    // previous one runs, and a job
    // settles only after a flush that STARTED after its COMMIT returned: a resolved write survives
    // power loss as before. A batch of nothing but streamed deltas (durable: false) is not waited
    // for (safe against a process crash; the next flush takes them along), but its jobs still
    // settle after every earlier commit's, so an event is never delivered before an earlier one.
    // Between COMMIT and the flush, another reader can see a write that a power cut would undo.
    const synced = this.#syncWal && batch.some((j) => j.durable) && anyOk ? this.#syncSoon() : undefined;
    const settle = () => {
      for (const r of results) (r.ok ? r.job.resolve : r.job.reject)(r.value);
    };
    if (!synced && this.#unsettled === 0) {
      settle();
      return;
    }
    this.#unsettled++;
    // A flush that fails after close() flushed the WAL itself does not un-acknowledge anything.
    const durable = synced?.catch((error: unknown) => {
      if (!this.#flushedAtClose) throw error;
    });
    this.#settled = this.#settled
      .then(() => durable)
      .then(settle, (error: unknown) => {
        // The flush failed: whether the transaction is on disk is unknown — none of it is acknowledged.
        for (const r of results) r.job.reject(r.ok ? error : r.value);
      })
      .finally(() => {
        this.#unsettled--;
      });
  }

  /** A WAL flush that starts after now: the one in flight started earlier, so the next one. */
  #syncSoon(): Promise<void> {
    if (!this.#syncing) return this.#startSync();
    this.#nextSync ??= this.#syncing
      .catch(() => {})
      .then(() => {
        this.#nextSync = undefined;
        return this.#startSync();
      });
    return this.#nextSync;
  }

  #startSync(): Promise<void> {
    let flush: Promise<void>;
    try {
      flush = (this.#syncWal as () => Promise<void>)();
    } catch (error) {
      flush = Promise.reject(error); // e.g. the WAL could not be opened: the commits waiting fail, none hangs
    }
    const p: Promise<void> = flush.finally(() => {
      if (this.#syncing === p) this.#syncing = undefined;
    });
    this.#syncing = p;
    return p;
  }

  #flushWal(): Promise<void> {
    // The WAL exists from the first commit on. SQLite keeps this file while the connection is
    // open — a checkpoint rewrites it from the start, never replaces it.
    // A thread that died (its flushes failed) is replaced at the next flush.
    if (!this.#flusher || this.#flusher.gone) this.#flusher = new WalFlusher(`${this.#file}-wal`);
    return this.#flusher.flush();
  }

  /** Synchronous transaction for start-up work (migrations); not batched. */
  transaction<T>(fn: () => T): T {
    this.raw.exec('BEGIN IMMEDIATE');
    try {
      const value = fn();
      this.raw.exec('COMMIT');
      return value;
    } catch (error) {
      if (this.raw.isTransaction) this.raw.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Commits queued writes and closes. Writes committed here (and earlier ones still waiting for
   * their flush) settle when their flush ends; the WAL's descriptor is closed after the last one.
   */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#statements.clear();
    // What is committed and not yet flushed is flushed here, synchronously: closing the last
    // connection checkpoints and deletes the WAL, so a flush still on its way to the flusher's
    // thread (started by flush() just above, or earlier) may find no file (ENOENT) — it must not
    // fail writes that are on disk.
    if (this.#unsettled > 0 && this.#syncWal) {
      try {
        const fd = fs.openSync(`${this.#file}-wal`, 'r+');
        try {
          fs.fdatasyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        this.#flushedAtClose = true;
      } catch {
        // no WAL to flush (or it failed): the pending flushes decide, as before
      }
    }
    const flusher = this.#flusher;
    this.#flusher = undefined;
    if (flusher) void this.#settled.finally(() => flusher.close());
    this.raw.close();
  }
}
