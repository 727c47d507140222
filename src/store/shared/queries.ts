// The keyset list queries (listSessions / listWorkflows / listAudit), dialect-free: which table,
// sort column, filters and cursor each one uses, how a row becomes a record and what the next
// cursor is made of. Each dialect only renders its placeholders and runs the SQL (`listPage`).
import type {
  ApprovalQuery,
  ApprovalRecord,
  AuditQuery,
  AuditRecord,
  Page,
  SessionQuery,
  SessionRecord,
  WorkflowQuery,
  WorkflowRecord,
} from '../types.ts';
import type { Value } from './columns.ts';
import { decodeIntCursor, decodeTextCursor } from './cursor.ts';
import { type PageSpec, pageSql, toPage } from './page.ts';
import { type Row, toApproval, toAudit, toSession, toWorkflow } from './rows.ts';
import { toIso } from './time.ts';

export interface ListQuery<T> {
  spec: PageSpec;
  toRecord: (row: Row) => T;
  /** The [sort key, id] a cursor after `item` is made of. */
  key: (item: T) => [string, string | number];
}

export function sessionsPageSpec(q: SessionQuery): PageSpec {
  return {
    table: 'sessions',
    sortColumn: 'created_at',
    filters: [['status', q.status]],
    cursor: q.cursor === undefined ? undefined : decodeTextCursor(q.cursor),
    limit: q.limit,
  };
}

export function workflowsPageSpec(q: WorkflowQuery): PageSpec {
  return {
    table: 'workflows',
    sortColumn: 'created_at',
    filters: [
      ['status', q.status],
      ['type', q.type],
    ],
    cursor: q.cursor === undefined ? undefined : decodeTextCursor(q.cursor),
    limit: q.limit,
  };
}

export function auditPageSpec(q: AuditQuery): PageSpec {
  return {
    table: 'audit',
    sortColumn: 'ts',
    filters: [
      ['action', q.action],
      ['actor', q.actor],
      ['target', q.target],
    ],
    since: q.since === undefined ? undefined : toIso(q.since),
    cursor: q.cursor === undefined ? undefined : decodeIntCursor(q.cursor),
    limit: q.limit,
  };
}

export function approvalsPageSpec(q: ApprovalQuery): PageSpec {
  return {
    table: 'approvals',
    sortColumn: 'requested_at',
    filters: [['status', q.status]],
    cursor: q.cursor === undefined ? undefined : decodeTextCursor(q.cursor),
    limit: q.limit,
  };
}

export const approvalsList = (q: ApprovalQuery): ListQuery<ApprovalRecord> => ({
  spec: approvalsPageSpec(q),
  toRecord: toApproval,
  key: (a) => [a.requestedAt, a.id],
});

export const sessionsList = (q: SessionQuery): ListQuery<SessionRecord> => ({
  spec: sessionsPageSpec(q),
  toRecord: toSession,
  key: (s) => [s.createdAt, s.id],
});

export const workflowsList = (q: WorkflowQuery): ListQuery<WorkflowRecord> => ({
  spec: workflowsPageSpec(q),
  toRecord: toWorkflow,
  key: (w) => [w.createdAt, w.id],
});

export const auditList = (q: AuditQuery): ListQuery<AuditRecord> => ({
  spec: auditPageSpec(q),
  toRecord: toAudit,
  key: (r) => [r.ts, r.id],
});

/** Renders `list` with the dialect's placeholders, runs it with `rows` and makes the page. */
export async function listPage<T>(
  list: ListQuery<T>,
  ph: (i: number) => string,
  rows: (sql: string, params: Value[]) => Row[] | Promise<Row[]>,
): Promise<Page<T>> {
  const { sql, params } = pageSql(list.spec, ph);
  return toPage((await rows(sql, params)).map(list.toRecord), list.spec.limit, list.key);
}
