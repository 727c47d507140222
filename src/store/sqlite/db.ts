// One SQLite connection (node:sqlite, synchronous) with a prepared-statement cache and group
// commit: write jobs queued within the same event-loop turn run in ONE transaction, each in
// its own savepoint (so one failing job does not undo the others), and every job's promise
// settles only after COMMIT has returned — with synchronous=FULL that is after the fsync.
//
// Why the fsync stays inside COMMIT, on the event loop (≈ 0.3 ms per durable commit on this
// machine's disk): a COMMIT makes the write visible to every later read at once. An fsync done
// afterwards, off the loop, left a window in which an HTTP read saw a run `completed` while the
// server had not yet acknowledged it to itself (its slot still taken, its events not yet published) —
// and a power cut could still undo what that reader saw. Tried and reverted (notes/perf-round2.md).
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Value } from '../shared/columns.ts';
import type { Row } from '../shared/rows.ts';

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
}

export class SqliteDb {
  readonly raw: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #queue: Job[] = [];
  #scheduled = false;
  #soon = false;
  #closed = false;

  constructor(file: string, options: SqliteOptions = {}) {
    this.raw = new DatabaseSync(file);
    this.raw.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    this.raw.exec('PRAGMA journal_mode = WAL');
    // FULL: the WAL is fsynced at every commit, so a resolved write survives power loss.
    this.raw.exec('PRAGMA synchronous = FULL');
    this.raw.exec('PRAGMA foreign_keys = ON');
    this.raw.exec('PRAGMA temp_store = MEMORY');
    // Streaming rewrites the same hot pages (each session's newest events) many times a second; a
    // larger WAL between checkpoints copies each of them to the database file once, not every ~4 MB.
    this.raw.exec('PRAGMA wal_autocheckpoint = 16384');
  }

  #durableMode = true;

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
    // A batch of nothing but streamed deltas commits without its own fsync (synchronous=NORMAL in
    // WAL mode: safe against a process crash, only a power cut can lose the newest deltas; the next
    // durable commit fsyncs the WAL with them). Everything else stays FULL.
    const durable = batch.some((j) => j.durable);
    if (durable !== this.#durableMode) {
      this.raw.exec(`PRAGMA synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
      this.#durableMode = durable;
    }
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
    for (const r of results) (r.ok ? r.job.resolve : r.job.reject)(r.value);
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

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#statements.clear();
    this.raw.close();
  }
}
