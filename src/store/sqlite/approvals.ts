// Approvals on SQLite (docs/api.md §10). Each change is ONE write job (one transaction): the
// approval row, its event (with the workflow's notification, if it asked for one) and the session's
// status move together or not at all.
import type { Event } from '../../protocol/index.ts';
import { decideSql, inScope, ORPHANED_SQL, requestedEvent, resolvedEvent } from '../shared/approvals.ts';
import { approvalInsert, values } from '../shared/columns.ts';
import { toApproval } from '../shared/rows.ts';
import type { ApprovalChange, ApprovalDecisionInput, ApprovalRecord, NewApproval } from '../types.ts';
import type { SqliteDb } from './db.ts';
import { appendNotified, encodeEvents } from './events.ts';

/** Numbered placeholders (`?1`): statements that use one parameter twice. */
const num = (i: number): string => `?${i}`;

const NOTHING: ApprovalChange = { changed: false, events: [], outboxQueued: false };

export function requestApproval(db: SqliteDb, a: NewApproval, now: string): Promise<ApprovalChange> {
  const event = requestedEvent(a);
  const encoded = encodeEvents([event]);
  const cols = approvalInsert(a, now);
  return db.write(() => {
    const row = db.get(
      `INSERT INTO approvals (${cols.map(([c]) => c).join(', ')})
       SELECT ${cols.map(() => '?').join(', ')}
        WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND status = 'running')
       RETURNING *`,
      ...values(cols),
      a.runId,
    );
    if (!row) return NOTHING;
    const stored = appendNotified(db, a.sessionId, [event], encoded, now);
    db.run("UPDATE sessions SET status = 'waiting', updated_at = ? WHERE id = ?", now, a.sessionId);
    return {
      approval: toApproval(row),
      changed: true,
      events: stored.events,
      outboxQueued: stored.notified > 0,
    };
  });
}

/** Inside a write job: the decision, its event, the session's status. */
function decideIn(db: SqliteDb, d: ApprovalDecisionInput, now: string): ApprovalChange {
  const { sql, params } = decideSql(d, now, () => '?');
  const row = db.get(sql, ...params);
  if (!row) {
    const existing = db.get('SELECT * FROM approvals WHERE id = ?', d.id);
    const approval = inScope(existing && toApproval(existing), d);
    return approval ? { ...NOTHING, approval } : NOTHING;
  }
  const approval = toApproval(row);
  const event = resolvedEvent(approval, d);
  const stored = appendNotified(db, approval.sessionId, [event], encodeEvents([event]), now);
  db.run(
    `UPDATE sessions SET status = 'running', updated_at = ?2
      WHERE id = ?1 AND status = 'waiting'
        AND NOT EXISTS (SELECT 1 FROM approvals WHERE session_id = ?1 AND status = 'pending')`,
    approval.sessionId,
    now,
  );
  return { approval, changed: true, events: stored.events, outboxQueued: stored.notified > 0 };
}

export function decideApproval(db: SqliteDb, d: ApprovalDecisionInput, now: string): Promise<ApprovalChange> {
  return db.write(() => decideIn(db, d, now));
}

export function pendingApprovals(db: SqliteDb, runId: string): ApprovalRecord[] {
  return db
    .all("SELECT * FROM approvals WHERE run_id = ? AND status = 'pending' ORDER BY requested_at, id", runId)
    .map(toApproval);
}

export function resolveOrphaned(db: SqliteDb, cutoff: string, now: string): Promise<Event[]> {
  return db.write(() => {
    const events: Event[] = [];
    for (const a of db.all(ORPHANED_SQL(num), cutoff).map(toApproval)) {
      events.push(...decideIn(db, { id: a.id, decision: 'deny', by: 'restart' }, now).events);
    }
    return events;
  });
}
