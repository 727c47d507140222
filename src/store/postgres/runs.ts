// The run queue on PostgreSQL, shared by several server instances. Each operation is ONE
// statement (atomic on its own, no round trips inside a transaction).
//
// Claiming (fair across credentials since 005, see claim_next_run_fair): candidate runs are locked together with their session row (FOR NO KEY UPDATE …
// SKIP LOCKED), and the session row carries `running_run_id`. Two claimers can therefore
// neither take the same run nor two runs of one session: the second either skips the locked
// rows, or — if the first already committed — re-checks `running_run_id IS NULL` on the new
// row version and moves on to the next candidate. The statement lives in the SQL function
// claim_next_run (migrations/postgres/001_init.sql), which pins its plan to the queue index.
import type pg from 'pg';
import { insertSql, runInsert, values } from '../shared/columns.ts';
import { toRun } from '../shared/rows.ts';
import { runInsertError } from '../shared/runs.ts';
import type { ClaimOptions, NewRun, RunRecord } from '../types.ts';
import { isForeignKeyViolation, isUniqueViolation, one, type Queryable, query } from './pool.ts';

const ph = (i: number): string => `$${i}`;

export async function insertRun(db: Queryable, r: NewRun, now: string): Promise<RunRecord> {
  const a = runInsert(r, now);
  try {
    return toRun((await one(db, `${insertSql('runs', a, ph)} RETURNING *`, values(a)))!);
  } catch (error) {
    throw runInsertError(r, error, {
      unique: isUniqueViolation(error),
      foreignKey: isForeignKeyViolation(error),
    });
  }
}

export async function claimNext(
  db: pg.Pool,
  workerId: string,
  leaseUntil: string,
  now: string,
  opts: ClaimOptions = {},
): Promise<RunRecord | undefined> {
  // claim_next_run_fair (migrations/postgres/005_fair_queue.sql) is one statement: atomic on its own
  const row = await one(db, 'SELECT * FROM claim_next_run_fair($1, $2, $3, $4, $5)', [
    workerId,
    leaseUntil,
    now,
    opts.maxRunsPerKey ?? 0,
    opts.engines ? [...opts.engines] : null,
  ]);
  return row && toRun(row);
}

export async function renew(
  db: pg.Pool,
  workerId: string,
  runIds: string[],
  leaseUntil: string,
): Promise<void> {
  await query(
    db,
    `UPDATE runs SET lease_expires_at = $1 WHERE worker_id = $2 AND status = 'running' AND id = ANY($3::text[])`,
    [leaseUntil, workerId, runIds],
  );
}

const REQUEUE_EXPIRED = `
WITH r AS (
  UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL
   WHERE status = 'running' AND lease_expires_at < $1
  RETURNING runs.*
), s AS (
  UPDATE sessions SET running_run_id = NULL FROM r
   WHERE sessions.id = r.session_id AND sessions.running_run_id = r.id
)
SELECT * FROM r ORDER BY queue_seq`;

export async function requeueExpired(db: pg.Pool, now: string): Promise<RunRecord[]> {
  return (await query(db, REQUEUE_EXPIRED, [now])).map(toRun);
}

const REQUEUE = `
WITH r AS (
  UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL
   WHERE id = $1 AND status IN ('queued', 'running')
  RETURNING id, session_id
)
UPDATE sessions SET running_run_id = NULL FROM r
 WHERE sessions.id = r.session_id AND sessions.running_run_id = r.id`;

export async function requeue(db: pg.Pool, id: string): Promise<void> {
  await query(db, REQUEUE, [id]);
}
