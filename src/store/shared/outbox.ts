// The outbox query both dialects share: which deliveries are due.

/**
 * Due deliveries, at most one per workflow: a workflow's pending row with the lowest `ord` (the
 * order they were queued in), when its time has come. A later notification — or the terminal
 * result — is not sent while an earlier one of the same workflow is still pending (docs/api.md §10).
 */
export const dueOutboxSql = (ph: (i: number) => string): string =>
  `SELECT o.* FROM outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= ${ph(1)}
      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.workflow_id = o.workflow_id AND p.status = 'pending' AND p.ord < o.ord)
    ORDER BY o.next_attempt_at, o.ord LIMIT ${ph(2)}`;
