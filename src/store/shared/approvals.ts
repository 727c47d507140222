// Dialect-free pieces of the approvals: the events that go with a request and a decision, and the
// statements both dialects share (rendered with their placeholders).
import type { ApprovalDecisionInput, ApprovalRecord, NewApproval, NewEvent } from '../types.ts';

export function requestedEvent(a: NewApproval): NewEvent {
  return {
    runId: a.runId,
    type: 'approval.requested',
    data: {
      approvalId: a.id,
      toolUseId: a.toolUseId,
      name: a.name,
      input: a.input,
      rule: a.rule,
      expiresAt: a.expiresAt,
    },
  };
}

export function resolvedEvent(a: Pick<ApprovalRecord, 'id' | 'runId'>, d: ApprovalDecisionInput): NewEvent {
  return {
    runId: a.runId,
    type: 'approval.resolved',
    data: {
      approvalId: a.id,
      decision: d.decision,
      by: d.by,
      ...(d.message !== undefined ? { message: d.message } : {}),
    },
  };
}

/** `UPDATE approvals … WHERE id AND pending [AND session] [AND workflow] RETURNING *`, and its parameters. */
export function decideSql(
  d: ApprovalDecisionInput,
  now: string,
  ph: (i: number) => string,
): { sql: string; params: Array<string | null> } {
  const params: Array<string | null> = [d.decision, d.by, d.message ?? null, now, d.id];
  let sql = `UPDATE approvals SET status = 'decided', decision = ${ph(1)}, decided_by = ${ph(2)}, message = ${ph(3)}, decided_at = ${ph(4)}
    WHERE id = ${ph(5)} AND status = 'pending'`;
  if (d.sessionId !== undefined) {
    params.push(d.sessionId);
    sql += ` AND session_id = ${ph(params.length)}`;
  }
  if (d.workflowId !== undefined) {
    params.push(d.workflowId);
    sql += ` AND workflow_id = ${ph(params.length)}`;
  }
  return { sql: `${sql} RETURNING *`, params };
}

/** Whether an approval is the one asked for (it exists, in the given session/workflow). */
export function inScope(a: ApprovalRecord | undefined, d: ApprovalDecisionInput): ApprovalRecord | undefined {
  if (!a) return undefined;
  if (d.sessionId !== undefined && a.sessionId !== d.sessionId) return undefined;
  if (d.workflowId !== undefined && a.workflowId !== d.workflowId) return undefined;
  return a;
}

/** The session is `running` again once none of its approvals is pending (and it was waiting). */
export const SESSION_RESUMED_SQL = (ph: (i: number) => string): string =>
  `UPDATE sessions SET status = 'running', updated_at = ${ph(2)}
    WHERE id = ${ph(1)} AND status = 'waiting'
      AND NOT EXISTS (SELECT 1 FROM approvals WHERE session_id = ${ph(1)} AND status = 'pending')`;

/** Pending approvals a restart leaves without a run to answer: see Store.resolveOrphanedApprovals. */
export const ORPHANED_SQL = (ph: (i: number) => string): string =>
  `SELECT a.* FROM approvals a LEFT JOIN runs r ON r.id = a.run_id
    WHERE a.status = 'pending'
      AND (r.id IS NULL OR r.status <> 'running' OR r.lease_expires_at IS NULL OR r.lease_expires_at < ${ph(1)})
    ORDER BY a.requested_at, a.id`;
