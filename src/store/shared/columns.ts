// Column lists for inserts and patches, shared by both dialects. Values are dialect-neutral
// (booleans stay booleans, JSON is text, timestamps are canonical ISO strings); each dialect
// binds them and writes its own placeholders.
import type { Usage } from '../../protocol/index.ts';
import type {
  ApprovalRecord,
  AuditRecord,
  MessageRecord,
  NewRun,
  NewSession,
  OutboxRecord,
  SessionRecord,
  WorkflowRecord,
} from '../types.ts';
import { toJson } from './json.ts';
import { toIso } from './time.ts';

export type Value = string | number | boolean | null;
export type Assignments = Array<[column: string, value: Value]>;

type Kind = 'text' | 'num' | 'bool' | 'json' | 'ts' | 'usage';
interface Spec {
  col: string;
  kind: Kind;
  /** Nullable columns are cleared by an explicit `undefined`/`null` in a patch. */
  nullable: boolean;
}
const c = (col: string, kind: Kind, nullable = false): Spec => ({ col, kind, nullable });

function encode(kind: Kind, v: unknown): Value {
  if (v === undefined || v === null) return null;
  switch (kind) {
    case 'json':
      return toJson(v);
    case 'ts':
      return toIso(v as string);
    case 'bool':
      return Boolean(v);
    case 'num':
      return Number(v);
    default:
      return String(v);
  }
}

function usageColumns(u: Usage | undefined): Assignments {
  return [
    ['input_tokens', u?.inputTokens ?? 0],
    ['output_tokens', u?.outputTokens ?? 0],
    ['cost_usd', u?.costUsd ?? 0],
  ];
}

function build(specs: Record<string, Spec>, patch: object, includeMissing: boolean): Assignments {
  const out: Assignments = [];
  const p = patch as Record<string, unknown>;
  for (const [field, spec] of Object.entries(specs)) {
    const present = Object.hasOwn(p, field);
    if (!present && !includeMissing) continue;
    const v = p[field];
    if (spec.kind === 'usage') {
      if (v !== undefined || includeMissing) out.push(...usageColumns(v as Usage | undefined));
      continue;
    }
    if ((v === undefined || v === null) && !spec.nullable) {
      if (includeMissing) throw new Error(`store: ${field} is required`);
      continue;
    }
    out.push([spec.col, encode(spec.kind, v)]);
  }
  return out;
}

const SESSION_PATCH: Record<string, Spec> = {
  status: c('status', 'text'),
  title: c('title', 'text'),
  engineState: c('engine_state', 'json'),
  workspaceReady: c('workspace_ready', 'bool'),
};

const WORKFLOW: Record<string, Spec> = {
  id: c('id', 'text'),
  type: c('type', 'text'),
  priority: c('priority', 'text'),
  status: c('status', 'text'),
  instructions: c('instructions', 'text'),
  repoUrl: c('repo_url', 'text', true),
  branch: c('branch', 'text', true),
  engine: c('engine', 'text', true),
  model: c('model', 'text', true),
  callbackUrl: c('callback_url', 'text', true),
  idempotencyKey: c('idempotency_key', 'text', true),
  timeoutMs: c('timeout_ms', 'num'),
  payload: c('payload', 'json'),
  metadata: c('metadata', 'json'),
  sessionId: c('session_id', 'text'),
  runId: c('run_id', 'text'),
  attempts: c('attempts', 'num'),
  createdAt: c('created_at', 'ts'),
  startedAt: c('started_at', 'ts', true),
  completedAt: c('completed_at', 'ts', true),
  result: c('result', 'json', true),
  error: c('error', 'json', true),
  usage: c('usage', 'usage'),
  policy: c('policy', 'json', true),
  notify: c('notify', 'json', true),
  credential: c('credential', 'text', true),
};
const { id: _id, createdAt: _createdAt, ...WORKFLOW_PATCH } = WORKFLOW;

const OUTBOX: Record<string, Spec> = {
  id: c('id', 'text'),
  workflowId: c('workflow_id', 'text'),
  kind: c('kind', 'text'),
  url: c('url', 'text'),
  body: c('body', 'text'),
  status: c('status', 'text'),
  attempts: c('attempts', 'num'),
  nextAttemptAt: c('next_attempt_at', 'ts'),
  lastError: c('last_error', 'text', true),
  createdAt: c('created_at', 'ts'),
  deliveredAt: c('delivered_at', 'ts', true),
  traceParent: c('trace_parent', 'text', true),
};
const OUTBOX_PATCH: Record<string, Spec> = {
  status: OUTBOX.status!,
  attempts: OUTBOX.attempts!,
  nextAttemptAt: OUTBOX.nextAttemptAt!,
  lastError: OUTBOX.lastError!,
  deliveredAt: OUTBOX.deliveredAt!,
};

export function sessionInsert(s: NewSession, now: string): Assignments {
  return [
    ['id', s.id],
    ['title', s.title],
    ['status', 'idle'],
    ['engine', s.engine],
    ['model', s.model],
    ['repo_url', s.repoUrl ?? null],
    ['branch', s.branch ?? null],
    ['system_prompt', s.systemPrompt ?? null],
    ['metadata', toJson(s.metadata ?? {})],
    ['workflow_id', s.workflowId ?? null],
    ['policy', s.policy === undefined ? null : toJson(s.policy)],
    ['credential', s.credential ?? null],
    ['created_at', now],
    ['updated_at', now],
  ];
}

export function runInsert(r: NewRun, now: string): Assignments {
  return [
    ['id', r.id],
    ['session_id', r.sessionId],
    ['workflow_id', r.workflowId ?? null],
    ['status', 'queued'],
    ['input', r.input],
    ['idempotency_key', r.idempotencyKey ?? null],
    ['priority', r.priority],
    ['deadline_at', r.deadlineAt === undefined ? null : toIso(r.deadlineAt)],
    // '' = none recorded: fair claiming groups by credential and needs a value (005_fair_queue)
    ['credential', r.credential ?? ''],
    ['trace_parent', r.traceParent ?? null],
    ['created_at', now],
  ];
}

export function messageInsert(m: MessageRecord): Assignments {
  return [
    ['id', m.id],
    ['session_id', m.sessionId],
    ['run_id', m.runId ?? null],
    ['role', m.role],
    ['text', m.text],
    ['content', m.content === undefined ? null : toJson(m.content)],
    ['created_at', toIso(m.createdAt)],
  ];
}

export function auditInsert(a: Omit<AuditRecord, 'id'>): Assignments {
  return [
    ['ts', toIso(a.ts)],
    ['actor', a.actor],
    ['action', a.action],
    ['target', a.target ?? null],
    ['outcome', a.outcome],
    ['details', toJson(a.details ?? {})],
  ];
}

export const workflowInsert = (w: WorkflowRecord): Assignments => build(WORKFLOW, w, true);
export const outboxInsert = (o: OutboxRecord): Assignments =>
  build(OUTBOX, { ...o, kind: o.kind ?? 'result' }, true);

/** A new, pending approval requested at `now`. */
export function approvalInsert(
  a: Pick<
    ApprovalRecord,
    'id' | 'sessionId' | 'workflowId' | 'runId' | 'toolUseId' | 'name' | 'input' | 'rule' | 'expiresAt'
  >,
  now: string,
): Assignments {
  return [
    ['id', a.id],
    ['session_id', a.sessionId],
    ['workflow_id', a.workflowId ?? null],
    ['run_id', a.runId],
    ['tool_use_id', a.toolUseId],
    ['name', a.name],
    ['input', toJson(a.input ?? null)],
    ['rule', a.rule],
    ['status', 'pending'],
    ['requested_at', now],
    ['expires_at', toIso(a.expiresAt)],
  ];
}

type SessionPatch = Partial<Pick<SessionRecord, 'status' | 'title' | 'engineState' | 'workspaceReady'>>;
export const sessionPatch = (p: SessionPatch): Assignments => build(SESSION_PATCH, p, false);
export const workflowPatch = (p: Partial<Omit<WorkflowRecord, 'id' | 'createdAt'>>): Assignments =>
  build(WORKFLOW_PATCH, p, false);
export const outboxPatch = (p: Partial<OutboxRecord>): Assignments => build(OUTBOX_PATCH, p, false);

/** `INSERT INTO t (a, b) VALUES (<ph 1>, <ph 2>)`; `ph` renders the i-th (1-based) placeholder. */
export function insertSql(table: string, a: Assignments, ph: (i: number) => string): string {
  return `INSERT INTO ${table} (${a.map(([col]) => col).join(', ')}) VALUES (${a.map((_, i) => ph(i + 1)).join(', ')})`;
}

/** `a = <ph first>, b = <ph first+1>` */
export function setSql(a: Assignments, ph: (i: number) => string, first = 1): string {
  return a.map(([col], i) => `${col} = ${ph(first + i)}`).join(', ');
}

export const values = (a: Assignments): Value[] => a.map(([, v]) => v);

/** `UPDATE t SET a = <ph 1>, b = <ph 2> WHERE id = <ph 3>`: bind `[...values(a), id]`. */
export function updateSql(table: string, a: Assignments, ph: (i: number) => string): string {
  return `UPDATE ${table} SET ${setSql(a, ph)} WHERE id = ${ph(a.length + 1)}`;
}
