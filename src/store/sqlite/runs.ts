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
 * The credentials with queued runs at a priority (a skip scan over runs_fair_idx), those under
 * the cap, in the order they are served: fewest running runs, then least recently served (its
 * last run ended longest ago), then oldest queued run. One statement, so the walk over the
 * credentials stays inside SQLite.
 */
const CANDIDATES = `
WITH RECURSIVE creds(c) AS (
  SELECT (SELECT min(credential) FROM runs WHERE status = 'queued' AND priority = ?1)
  UNION ALL
  SELECT (SELECT min(credential) FROM runs WHERE status = 'queued' AND priority = ?1 AND credential > creds.c)
    FROM creds WHERE creds.c IS NOT NULL
), busy AS (
  SELECT credential AS c, count(*) AS n FROM runs WHERE status = 'running' GROUP BY credential
)
SELECT creds.c AS c
  FROM creds LEFT JOIN busy ON busy.c = creds.c
 WHERE creds.c IS NOT NULL AND (?2 = 0 OR coalesce(busy.n, 0) < ?2)
 ORDER BY coalesce(busy.n, 0),
          coalesce((SELECT max(completed_at) FROM runs WHERE credential = creds.c), ''),
          (SELECT min(queue_seq) FROM runs WHERE status = 'queued' AND priority = ?1 AND credential = creds.c)`;

/** The oldest runnable run of a credential at a priority (its session idle). */
const RUNNABLE = `
SELECT r.id, r.session_id FROM runs r JOIN sessions s ON s.id = r.session_id
 WHERE r.status = 'queued' AND r.priority = ? AND r.credential = ? AND s.running_run_id IS NULL
 ORDER BY r.queue_seq LIMIT 1`;
/** The same, its session's engine among a JSON list (memory admission). */
const RUNNABLE_ON = `
SELECT r.id, r.session_id FROM runs r JOIN sessions s ON s.id = r.session_id
 WHERE r.status = 'queued' AND r.priority = ? AND r.credential = ? AND s.running_run_id IS NULL
   AND s.engine IN (SELECT value FROM json_each(?))
 ORDER BY r.queue_seq LIMIT 1`;

/** The candidate credentials at a priority, in the order they are served. */
function candidates(db: SqliteDb, p: number, cap: number): string[] {
  const first = db.get(
    "SELECT min(credential) AS c FROM runs WHERE status = 'queued' AND priority = ?",
    p,
  )?.c;
  if (typeof first !== 'string') return [];
  const second = db.get(
    "SELECT min(credential) AS c FROM runs WHERE status = 'queued' AND priority = ? AND credential > ?",
    p,
    first,
  )?.c;
  // The common case, one tenant with work at this priority: nothing to order.
  if (typeof second !== 'string') {
    if (cap === 0) return [first];
    const n = db.get("SELECT count(*) AS n FROM runs WHERE status = 'running' AND credential = ?", first)?.n;
    return Number(n) < cap ? [first] : [];
  }
  return db.all(CANDIDATES, p, cap).map((r) => r.c as string);
}

/**
 * The next run to start, fairly: the highest priority with a runnable run; within it, the first
 * candidate credential that has one; FIFO within the credential. Runs inside the write
 * transaction (SQLite has one writer), so the counts cannot change under it.
 */
function pickFair(db: SqliteDb, opts: ClaimOptions): { id: string; session_id: string } | undefined {
  const cap = opts.maxRunsPerKey ?? 0;
  const engines = opts.engines ? JSON.stringify(opts.engines) : undefined;
  let prio = db.get("SELECT max(priority) AS p FROM runs WHERE status = 'queued'")?.p;
  while (typeof prio === 'number' || typeof prio === 'bigint') {
    const p = Number(prio);
    for (const c of candidates(db, p, cap)) {
      const next = engines === undefined ? db.get(RUNNABLE, p, c) : db.get(RUNNABLE_ON, p, c, engines);
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
