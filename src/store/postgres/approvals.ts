// Approvals on PostgreSQL (docs/api.md §10). Each change is ONE transaction: the approval row, its
// event (with the workflow's notification, if it asked for one) and the session's status. The event
// append locks the session row, so two decisions of one session serialise there; the
// `status = 'pending'` condition of the UPDATE makes exactly one of two racing decisions win.
import type pg from 'pg';
import type { Event } from '../../protocol/index.ts';
import { decideSql, inScope, ORPHANED_SQL, requestedEvent, resolvedEvent } from '../shared/approvals.ts';
import { approvalInsert, values } from '../shared/columns.ts';
import type { NotifyTargets } from '../shared/notify.ts';
import { toApproval } from '../shared/rows.ts';
import type { ApprovalChange, ApprovalDecisionInput, ApprovalRecord, NewApproval } from '../types.ts';
import { appendNotified } from './events.ts';
import { one, type Queryable, query, transaction } from './pool.ts';

const ph = (i: number): string => `$${i}`;
const NOTHING: ApprovalChange = { changed: false, events: [], outboxQueued: false };

export function requestApproval(
  pool: pg.Pool,
  a: NewApproval,
  now: string,
  targets: NotifyTargets,
): Promise<ApprovalChange> {
  const cols = approvalInsert(a, now);
  return transaction(pool, async (c) => {
    const n = cols.length;
    const row = await one(
      c,
      `INSERT INTO approvals (${cols.map(([col]) => col).join(', ')})
       SELECT ${cols.map(([col], i) => (col === 'input' ? `${ph(i + 1)}::jsonb` : ph(i + 1))).join(', ')}
        WHERE EXISTS (SELECT 1 FROM runs WHERE id = ${ph(n + 1)} AND status = 'running')
       RETURNING *`,
      [...values(cols), a.runId],
    );
    if (!row) return NOTHING;
    const stored = await appendNotified(c, targets, a.sessionId, [requestedEvent(a)], now);
    await query(c, "UPDATE sessions SET status = 'waiting', updated_at = $2 WHERE id = $1", [
      a.sessionId,
      now,
    ]);
    return {
      approval: toApproval(row),
      changed: true,
      events: stored.events,
      outboxQueued: stored.notified > 0,
    };
  });
}

async function decideIn(
  c: Queryable,
  d: ApprovalDecisionInput,
  now: string,
  targets: NotifyTargets,
): Promise<ApprovalChange> {
  const { sql, params } = decideSql(d, now, ph);
  const row = await one(c, sql, params);
  if (!row) {
    const existing = await one(c, 'SELECT * FROM approvals WHERE id = $1', [d.id]);
    const approval = inScope(existing && toApproval(existing), d);
    return approval ? { ...NOTHING, approval } : NOTHING;
  }
  const approval = toApproval(row);
  const stored = await appendNotified(c, targets, approval.sessionId, [resolvedEvent(approval, d)], now);
  await query(
    c,
    `UPDATE sessions SET status = 'running', updated_at = $2
      WHERE id = $1 AND status = 'waiting'
        AND NOT EXISTS (SELECT 1 FROM approvals WHERE session_id = $1 AND status = 'pending')`,
    [approval.sessionId, now],
  );
  return { approval, changed: true, events: stored.events, outboxQueued: stored.notified > 0 };
}

export function decideApproval(
  pool: pg.Pool,
  d: ApprovalDecisionInput,
  now: string,
  targets: NotifyTargets,
): Promise<ApprovalChange> {
  return transaction(pool, (c) => decideIn(c, d, now, targets));
}

export async function pendingApprovals(pool: pg.Pool, runId: string): Promise<ApprovalRecord[]> {
  return (
    await query(
      pool,
      "SELECT * FROM approvals WHERE run_id = $1 AND status = 'pending' ORDER BY requested_at, id",
      [runId],
    )
  ).map(toApproval);
}

/** Each orphan in its own transaction: one that another instance decided first is skipped. */
export async function resolveOrphaned(
  pool: pg.Pool,
  cutoff: string,
  now: string,
  targets: NotifyTargets,
): Promise<Event[]> {
  const events: Event[] = [];
  for (const a of (await query(pool, ORPHANED_SQL(ph), [cutoff])).map(toApproval)) {
    const res = await decideApproval(pool, { id: a.id, decision: 'deny', by: 'restart' }, now, targets);
    events.push(...res.events);
  }
  return events;
}
