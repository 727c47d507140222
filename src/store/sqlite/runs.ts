// The run queue on SQLite. Every function here runs inside a SqliteDb.write job, i.e. inside
// the (single-writer) transaction, so check-then-update sequences are atomic.
import { insertSql, runInsert, values } from '../shared/columns.ts';
import { toRun } from '../shared/rows.ts';
import { runInsertError } from '../shared/runs.ts';
import type { NewRun, RunRecord } from '../types.ts';
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

export function claimNext(
  db: SqliteDb,
  workerId: string,
  leaseUntil: string,
  now: string,
): RunRecord | undefined {
  const next = db.get(
    `SELECT r.id, r.session_id FROM runs r JOIN sessions s ON s.id = r.session_id
      WHERE r.status = 'queued' AND s.running_run_id IS NULL
      ORDER BY r.priority DESC, r.queue_seq LIMIT 1`,
  );
  if (!next) return undefined;
  const row = db.get(
    `UPDATE runs SET status = 'running', worker_id = ?, lease_expires_at = ?, attempts = attempts + 1,
            started_at = COALESCE(started_at, ?)
      WHERE id = ? RETURNING *`,
    workerId,
    leaseUntil,
    now,
    next.id as string,
  );
  db.run('UPDATE sessions SET running_run_id = ? WHERE id = ?', next.id as string, next.session_id as string);
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
