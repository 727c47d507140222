// Row → record mapping shared by both dialects. Rows arrive normalised: text, numbers,
// booleans (pg) or 0/1 (sqlite), JSON as text and timestamps as ISO strings (the pg pool
// installs type parsers that make it so, see postgres/pool.ts).
import type {
  Event,
  EventType,
  Policy,
  Priority,
  RunFailure,
  Usage,
  WorkflowResult,
  WorkflowStatus,
  WorkflowType,
} from '../../protocol/index.ts';
import type {
  ApprovalRecord,
  AuditRecord,
  MessageRecord,
  NewEvent,
  OutboxRecord,
  RunRecord,
  RunStatus,
  SessionRecord,
  WorkflowRecord,
} from '../types.ts';

export type Row = Record<string, unknown>;

function str(row: Row, col: string): string {
  const v = row[col];
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new Error(`store: column ${col} is ${v === null ? 'NULL' : typeof v}, expected text`);
}

function optStr(row: Row, col: string): string | undefined {
  const v = row[col];
  return v === null || v === undefined ? undefined : str(row, col);
}

function num(row: Row, col: string): number {
  const v = row[col];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  if (v === null || v === undefined) return 0;
  throw new Error(`store: column ${col} is ${typeof v}, expected a number`);
}

function bool(row: Row, col: string): boolean {
  const v = row[col];
  return v === true || v === 1 || v === 1n || v === '1' || v === 't';
}

function json<T>(row: Row, col: string, fallback: T): T {
  const v = row[col];
  if (v === null || v === undefined) return fallback;
  if (typeof v !== 'string') return v as T;
  return JSON.parse(v) as T;
}

function optJson<T>(row: Row, col: string): T | undefined {
  const v = row[col];
  if (v === null || v === undefined) return undefined;
  return json<T>(row, col, undefined as T);
}

/** A row's input_tokens, output_tokens and cost_usd (absent row: zero). */
export function usageOf(row: Row | undefined): Usage {
  return row ? usage(row) : { inputTokens: 0, outputTokens: 0, costUsd: 0 };
}

function usage(row: Row): Usage {
  return {
    inputTokens: num(row, 'input_tokens'),
    outputTokens: num(row, 'output_tokens'),
    costUsd: num(row, 'cost_usd'),
  };
}

/** Drops keys whose value is undefined, so optional fields are absent rather than undefined. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export function toSession(row: Row): SessionRecord {
  return compact({
    id: str(row, 'id'),
    title: str(row, 'title'),
    status: str(row, 'status') as SessionRecord['status'],
    engine: str(row, 'engine') as SessionRecord['engine'],
    model: str(row, 'model'),
    repoUrl: optStr(row, 'repo_url'),
    branch: optStr(row, 'branch'),
    systemPrompt: optStr(row, 'system_prompt'),
    metadata: json<Record<string, unknown>>(row, 'metadata', {}),
    lastSeq: num(row, 'last_seq'),
    usage: usage(row),
    engineState: json<Record<string, unknown>>(row, 'engine_state', {}),
    workflowId: optStr(row, 'workflow_id'),
    workspaceReady: bool(row, 'workspace_ready'),
    policy: optJson<Policy>(row, 'policy'),
    credential: optStr(row, 'credential'),
    createdAt: str(row, 'created_at'),
    updatedAt: str(row, 'updated_at'),
  });
}

export function toMessage(row: Row): MessageRecord {
  return compact({
    id: str(row, 'id'),
    sessionId: str(row, 'session_id'),
    runId: optStr(row, 'run_id'),
    role: str(row, 'role') as MessageRecord['role'],
    text: str(row, 'text'),
    content: optJson<unknown>(row, 'content'),
    createdAt: str(row, 'created_at'),
  });
}

export function toRun(row: Row): RunRecord {
  return compact({
    id: str(row, 'id'),
    sessionId: str(row, 'session_id'),
    workflowId: optStr(row, 'workflow_id'),
    status: str(row, 'status') as RunStatus,
    input: str(row, 'input'),
    idempotencyKey: optStr(row, 'idempotency_key'),
    priority: num(row, 'priority'),
    attempts: num(row, 'attempts'),
    workerId: optStr(row, 'worker_id'),
    leaseExpiresAt: optStr(row, 'lease_expires_at'),
    cancelRequested: bool(row, 'cancel_requested'),
    deadlineAt: optStr(row, 'deadline_at'),
    createdAt: str(row, 'created_at'),
    startedAt: optStr(row, 'started_at'),
    completedAt: optStr(row, 'completed_at'),
    stopReason: optStr(row, 'stop_reason'),
    error: optJson<RunFailure>(row, 'error'),
    usage: usage(row),
    // '' is the store's "none recorded" (see runInsert)
    credential: optStr(row, 'credential') || undefined,
    traceParent: optStr(row, 'trace_parent'),
  });
}

export function toWorkflow(row: Row): WorkflowRecord {
  return compact({
    id: str(row, 'id'),
    type: str(row, 'type') as WorkflowType,
    priority: str(row, 'priority') as Priority,
    status: str(row, 'status') as WorkflowStatus,
    instructions: str(row, 'instructions'),
    repoUrl: optStr(row, 'repo_url'),
    branch: optStr(row, 'branch'),
    engine: optStr(row, 'engine') as WorkflowRecord['engine'],
    model: optStr(row, 'model'),
    callbackUrl: optStr(row, 'callback_url'),
    idempotencyKey: optStr(row, 'idempotency_key'),
    timeoutMs: num(row, 'timeout_ms'),
    payload: json<Record<string, unknown>>(row, 'payload', {}),
    metadata: json<Record<string, unknown>>(row, 'metadata', {}),
    sessionId: str(row, 'session_id'),
    runId: str(row, 'run_id'),
    attempts: num(row, 'attempts'),
    createdAt: str(row, 'created_at'),
    startedAt: optStr(row, 'started_at'),
    completedAt: optStr(row, 'completed_at'),
    result: optJson<WorkflowResult>(row, 'result'),
    error: optJson<RunFailure>(row, 'error'),
    usage: usage(row),
    policy: optJson<Policy>(row, 'policy'),
    notify: optJson<EventType[]>(row, 'notify'),
    credential: optStr(row, 'credential'),
  });
}

export function toOutbox(row: Row): OutboxRecord {
  return compact({
    id: str(row, 'id'),
    workflowId: str(row, 'workflow_id'),
    kind: (optStr(row, 'kind') ?? 'result') as NonNullable<OutboxRecord['kind']>,
    url: str(row, 'url'),
    body: str(row, 'body'),
    status: str(row, 'status') as OutboxRecord['status'],
    attempts: num(row, 'attempts'),
    nextAttemptAt: str(row, 'next_attempt_at'),
    lastError: optStr(row, 'last_error'),
    createdAt: str(row, 'created_at'),
    deliveredAt: optStr(row, 'delivered_at'),
    traceParent: optStr(row, 'trace_parent'),
  });
}

export function toApproval(row: Row): ApprovalRecord {
  return compact({
    id: str(row, 'id'),
    sessionId: str(row, 'session_id'),
    workflowId: optStr(row, 'workflow_id'),
    runId: str(row, 'run_id'),
    toolUseId: str(row, 'tool_use_id'),
    name: str(row, 'name'),
    input: json<unknown>(row, 'input', null),
    rule: str(row, 'rule'),
    status: str(row, 'status') as ApprovalRecord['status'],
    decision: optStr(row, 'decision') as ApprovalRecord['decision'],
    by: optStr(row, 'decided_by') as ApprovalRecord['by'],
    message: optStr(row, 'message'),
    requestedAt: str(row, 'requested_at'),
    expiresAt: str(row, 'expires_at'),
    decidedAt: optStr(row, 'decided_at'),
  });
}

export function toAudit(row: Row): AuditRecord {
  return compact({
    id: num(row, 'id'),
    ts: str(row, 'ts'),
    actor: str(row, 'actor'),
    action: str(row, 'action'),
    target: optStr(row, 'target'),
    outcome: str(row, 'outcome') as AuditRecord['outcome'],
    details: json<Record<string, unknown>>(row, 'details', {}),
  });
}

// Events are written only from typed NewEvents (EventLog.append/emit), so a row's type and data
// belong together: they are trusted on the way back, not re-validated on every read (the tests
// validate what the API serves against the schemas, test/helpers/event-schema.ts).
export function toEvent(row: Row): Event {
  return compact({
    seq: num(row, 'seq'),
    sessionId: str(row, 'session_id'),
    runId: optStr(row, 'run_id'),
    type: str(row, 'type'),
    ts: str(row, 'ts'),
    data: json<Record<string, unknown>>(row, 'data', {}),
  }) as Event;
}

/** The Event returned by appendEvents: what was stored, without reading it back. */
export function storedEvent(
  seq: number,
  sessionId: string,
  e: NewEvent,
  ts: string,
  encodedData: string,
): Event {
  // `data` is e.data as JSON gives it back (what a reader of the store sees), so it keeps e's type.
  const data = JSON.parse(encodedData) as Record<string, unknown>;
  return (
    e.runId === undefined
      ? { seq, sessionId, type: e.type, ts, data }
      : { seq, sessionId, runId: e.runId, type: e.type, ts, data }
  ) as Event;
}
