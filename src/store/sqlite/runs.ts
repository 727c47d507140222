// The run queue on SQLite. Every function here runs inside a SqliteDb.write job, i.e. inside
// the (single-writer) transaction, so check-then-update sequences are atomic.
import { insertSql, runInsert, values } from '../shared/columns.ts';
import { toRun } from '../shared/rows.ts';
import { runInsertError } from '../shared/runs.ts';
import type { ClaimOptions, NewRun, RunRecord } from '../types.ts';
import type { SqliteDb } from './db.ts';

const q = (): string => '?';

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/.test(error.message);
}

function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof Error && /FOREIGN KEY constraint failed/.test(error.message);
}

export function insertRun(db: SqliteDb, r: NewRun, now: string): RunRecord {
  const a = runInsert(r, now);
  try {
    const row = db.get(`${insertSql('runs', a, q)} RETURNING *`, ...values(a));
    return toRun(row!);
  } catch (error) {
    throw runInsertError(r, error, {
      unique: isUniqueViolation(error),
      foreignKey: isForeignKeyViolation(error),
    });
  }
}

/**
 * The next run to start, fairly: the highest priority with a runnable run (queued, its session
 * idle, its engine admitted); within it, the credential with the fewest running runs, then the
 * one least recently started, then the one whose oldest queued run is oldest; FIFO within the
 * credential. Credentials at `maxRunsPerKey` running runs are skipped. Runs inside the write
 * transaction (SQLite has one writer), so the counts cannot change under it.
 */
function pickFair(db: SqliteDb, opts: ClaimOptions): { id: string; session_id: string } | undefined {
  const cap = opts.maxRunsPerKey ?? 0;
  const engines = opts.engines ? JSON.stringify(opts.engines) : null;
  let prio = db.get("SELECT max(priority) AS p FROM runs WHERE status = 'queued'")?.p;
  while (typeof prio === 'number' || typeof prio === 'bigint') {
    const p = Number(prio);
    const candidates: Array<{ c: string; running: number; last: string; head: number }> = [];
    // skip scan over the credentials with queued runs at this priority (runs_fair_idx)
    for (
      let c = db.get("SELECT min(credential) AS c FROM runs WHERE status = 'queued' AND priority = ?", p)?.c;
      typeof c === 'string';
      c = db.get(
        "SELECT min(credential) AS c FROM runs WHERE status = 'queued' AND priority = ? AND credential > ?",
        p,
        c,
      )?.c
    ) {
      const running = Number(
        db.get("SELECT count(*) AS n FROM runs WHERE status = 'running' AND credential = ?", c)?.n ?? 0,
      );
      if (cap > 0 && running >= cap) continue;
      const last = db.get('SELECT max(started_at) AS t FROM runs WHERE credential = ?', c)?.t;
      const head = db.get(
        "SELECT min(queue_seq) AS q FROM runs WHERE status = 'queued' AND priority = ? AND credential = ?",
        p,
        c,
      )?.q;
      candidates.push({ c, running, last: typeof last === 'string' ? last : '', head: Number(head) });
    }
    candidates.sort(
      (a, b) => a.running - b.running || (a.last < b.last ? -1 : a.last > b.last ? 1 : 0) || a.head - b.head,
    );
    for (const { c } of candidates) {
      const next = db.get(
        `SELECT r.id, r.session_id FROM runs r JOIN sessions s ON s.id = r.session_id
          WHERE r.status = 'queued' AND r.priority = ? AND r.credential = ? AND s.running_run_id IS NULL
            AND (? IS NULL OR s.engine IN (SELECT value FROM json_each(?)))
          ORDER BY r.queue_seq LIMIT 1`,
        p,
        c,
        engines,
        engines,
      );
      if (next) return { id: next.id as string, session_id: next.session_id as string };
    }
    prio = db.get("SELECT max(priority) AS p FROM runs WHERE status = 'queued' AND priority < ?", p)?.p;
  }
  return undefined;
}

export function claimNext(
  db: SqliteDb,
  workerId: string,
  leaseUntil: string,
  now: string,
  opts: ClaimOptions = {},
): RunRecord | undefined {
  const next = pickFair(db, opts);
  if (!next) return undefined;
  const row = db.get(
    `UPDATE runs SET status = 'running', worker_id = ?, lease_expires_at = ?, attempts = attempts + 1,
            started_at = COALESCE(started_at, ?)
      WHERE id = ? RETURNING *`,
    workerId,
    leaseUntil,
    now,
    next.id,
  );
  db.run('UPDATE sessions SET running_run_id = ? WHERE id = ?', next.id, next.session_id);
  return toRun(row!);
}

export function renew(db: SqliteDb, workerId: string, runIds: string[], leaseUntil: string): void {
  if (runIds.length === 0) return;
  db.run(
    `UPDATE runs SET lease_expires_at = ?
      WHERE worker_id = ? AND status = 'running' AND id IN (SELECT value FROM json_each(?))`,
    leaseUntil,
    workerId,
    JSON.stringify(runIds),
  );
}

export function requeueExpired(db: SqliteDb, now: string): RunRecord[] {
  const runs = db
    .all(
      `UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL
        WHERE status = 'running' AND lease_expires_at < ? RETURNING *`,
      now,
    )
    .map(toRun);
  for (const r of runs) {
    db.run(
      'UPDATE sessions SET running_run_id = NULL WHERE id = ? AND running_run_id = ?',
      r.sessionId,
      r.id,
    );
  }
  return runs;
}

/** Releases the session's "running" slot if `runId` holds it. */
function release(db: SqliteDb, runId: string): void {
  db.run(
    'UPDATE sessions SET running_run_id = NULL WHERE running_run_id = ? AND id = (SELECT session_id FROM runs WHERE id = ?)',
    runId,
    runId,
  );
}

export function requeue(db: SqliteDb, id: string): void {
  const n = db.run(
    `UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL
      WHERE id = ? AND status IN ('queued', 'running')`,
    id,
  );
  if (n > 0) release(db, id);
}
