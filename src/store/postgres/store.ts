// Store on PostgreSQL (`pg`), for several server instances sharing one database. Same
// semantics as the SQLite store; concurrency comes from row locks (appendEvents, claim) and
// unique indexes (idempotency), not from process-local state.
import type pg from 'pg';
import type { Event, Usage } from '../../protocol/index.ts';
import {
  auditInsert,
  insertSql,
  messageInsert,
  outboxInsert,
  outboxPatch,
  sessionInsert,
  sessionPatch,
  updateSql,
  type Value,
  values,
  workflowInsert,
  workflowPatch,
} from '../shared/columns.ts';
import { toInstance } from '../shared/instances.ts';
import { NONCE_PRUNE_EVERY } from '../shared/nonces.ts';
import { NotifyTargets } from '../shared/notify.ts';
import { dueOutboxSql } from '../shared/outbox.ts';
import { approvalsList, auditList, listPage, sessionsList, workflowsList } from '../shared/queries.ts';
import {
  type Row,
  toApproval,
  toEvent,
  toMessage,
  toOutbox,
  toRun,
  toSession,
  toWorkflow,
  usageOf,
} from '../shared/rows.ts';
import { isoAfter, toIso } from '../shared/time.ts';
import type {
  ApprovalChange,
  ApprovalDecisionInput,
  ApprovalQuery,
  ApprovalRecord,
  AuditQuery,
  AuditRecord,
  ClaimOptions,
  InstanceRecord,
  MessageRecord,
  NewApproval,
  NewEvent,
  NewRun,
  NewSession,
  OutboxRecord,
  Page,
  QueueMessage,
  RunFinish,
  RunFinished,
  RunRecord,
  RunStatus,
  SessionQuery,
  SessionRecord,
  Store,
  WorkflowQuery,
  WorkflowRecord,
  WorkflowTransition,
} from '../types.ts';
import * as approvals from './approvals.ts';
import * as events_ from './events.ts';
import { migratePostgres } from './migrate.ts';
import { createPool, one, type PgOptions, query, transaction } from './pool.ts';
import * as runs from './runs.ts';
import * as transitions from './transitions.ts';

const ph = (i: number): string => `$${i}`;

export interface PostgresStoreOptions extends PgOptions {
  /** The store's clock (ms since the epoch) for every time it records or compares; default Date.now. */
  now?: () => number;
}

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  /** Several instances share the database (see Store.shared). */
  readonly shared = true;
  readonly pool: pg.Pool;
  #nonceAccepts = 0;
  readonly #now: () => number;
  /** Which sessions' events are notified to a workflow's callbackUrl (see shared/notify.ts). */
  readonly #notify = new NotifyTargets();

  constructor(options: PostgresStoreOptions) {
    this.pool = createPool(options);
    this.#now = options.now ?? Date.now;
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Runs a list query's SQL (listPage). */
  #rows = (sql: string, params: Value[]): Promise<Row[]> => query(this.pool, sql, params);

  // ---- sessions

  async createSession(s: NewSession): Promise<SessionRecord> {
    const a = sessionInsert(s, this.#iso());
    return toSession((await one(this.pool, `${insertSql('sessions', a, ph)} RETURNING *`, values(a)))!);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM sessions WHERE id = $1', [id]);
    return row && toSession(row);
  }

  async listSessions(q: SessionQuery): Promise<Page<SessionRecord>> {
    return listPage(sessionsList(q), ph, this.#rows);
  }

  async updateSession(
    id: string,
    patch: Partial<Pick<SessionRecord, 'status' | 'title' | 'engineState' | 'workspaceReady'>>,
  ): Promise<void> {
    const a = sessionPatch(patch);
    a.push(['updated_at', this.#iso()]);
    await query(this.pool, updateSql('sessions', a, ph), [...values(a), id]);
  }

  async addSessionUsage(id: string, usage: Usage): Promise<void> {
    await query(
      this.pool,
      `UPDATE sessions SET input_tokens = input_tokens + $2, output_tokens = output_tokens + $3,
              cost_usd = cost_usd + $4, updated_at = $5 WHERE id = $1`,
      [id, usage.inputTokens, usage.outputTokens, usage.costUsd, this.#iso()],
    );
  }

  async deleteSession(id: string): Promise<boolean> {
    // messages, events and runs go with it (ON DELETE CASCADE)
    const rows = await query(this.pool, 'DELETE FROM sessions WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  }

  // ---- messages

  async addMessage(m: MessageRecord): Promise<void> {
    const a = messageInsert(m);
    await query(this.pool, insertSql('messages', a, ph), values(a));
  }

  async listMessages(sessionId: string): Promise<MessageRecord[]> {
    return (
      await query(this.pool, 'SELECT * FROM messages WHERE session_id = $1 ORDER BY ord', [sessionId])
    ).map(toMessage);
  }

  // ---- events

  appendEvents(sessionId: string, events: NewEvent[]): Promise<Event[]> {
    return events_
      .appendNotified(this.pool, this.#notify, sessionId, events, this.#iso())
      .then((r) => r.events);
  }

  appendEventBatches(batches: Array<{ sessionId: string; events: NewEvent[] }>): Promise<Event[][]> {
    return events_.appendEventBatches(this.pool, batches, this.#iso(), this.#notify);
  }

  async listEvents(sessionId: string, after: number, limit: number): Promise<Event[]> {
    if (limit <= 0) return [];
    const rows = await query(
      this.pool,
      'SELECT * FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [sessionId, Math.max(0, Math.floor(after)), Math.floor(limit)],
    );
    return rows.map(toEvent);
  }

  // ---- runs

  createRun(r: NewRun): Promise<RunRecord> {
    return runs.insertRun(this.pool, r, this.#iso());
  }

  queueMessage(m: QueueMessage): Promise<{ run: RunRecord; events: Event[] }> {
    const now = this.#iso();
    const ma = messageInsert(m.message);
    return transaction(this.pool, async (c) => {
      const run = await runs.insertRun(c, m.run, now);
      await query(c, insertSql('messages', ma, ph), values(ma));
      await query(
        c,
        "UPDATE sessions SET status = 'queued', updated_at = $1 WHERE id = $2 AND status = 'idle'",
        [now, m.run.sessionId],
      );
      const stored = await events_.appendNotified(c, this.#notify, m.run.sessionId, m.events, now);
      return { run, events: stored.events };
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM runs WHERE id = $1', [id]);
    return row && toRun(row);
  }

  async getRuns(ids: string[]): Promise<RunRecord[]> {
    if (ids.length === 0) return [];
    return (await query(this.pool, 'SELECT * FROM runs WHERE id = ANY($1::text[])', [ids])).map(toRun);
  }

  async findRunByIdempotencyKey(sessionId: string, key: string): Promise<RunRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM runs WHERE session_id = $1 AND idempotency_key = $2', [
      sessionId,
      key,
    ]);
    return row && toRun(row);
  }

  async listRuns(sessionId: string): Promise<RunRecord[]> {
    return (
      await query(this.pool, 'SELECT * FROM runs WHERE session_id = $1 ORDER BY queue_seq', [sessionId])
    ).map(toRun);
  }

  claimNextRun(workerId: string, leaseMs: number, opts: ClaimOptions = {}): Promise<RunRecord | undefined> {
    const now = this.#now();
    return runs.claimNext(this.pool, workerId, isoAfter(leaseMs, now), new Date(now).toISOString(), opts);
  }

  async credentialUsageSince(credential: string, since: string): Promise<Usage> {
    const row = await one(
      this.pool,
      `SELECT coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
              coalesce(sum(cost_usd), 0) AS cost_usd
         FROM runs WHERE credential = $1 AND completed_at >= $2`,
      [credential, toIso(since)],
    );
    return usageOf(row);
  }

  async renewLeases(workerId: string, runIds: string[], leaseMs: number): Promise<void> {
    if (runIds.length === 0) return;
    await runs.renew(this.pool, workerId, runIds, isoAfter(leaseMs, this.#now()));
  }

  requeueExpiredRuns(now: string): Promise<RunRecord[]> {
    return runs.requeueExpired(this.pool, toIso(now));
  }

  finishRun(f: RunFinish): Promise<RunFinished> {
    return transitions.finishRun(this.pool, f, this.#iso(), this.#notify);
  }

  transitionWorkflow(t: WorkflowTransition): Promise<Event | null> {
    return transitions.transitionWorkflow(this.pool, t, this.#iso(), this.#notify);
  }

  requeueRun(id: string): Promise<void> {
    return runs.requeue(this.pool, id);
  }

  async cancelQueuedRun(id: string): Promise<boolean> {
    const rows = await query(
      this.pool,
      "UPDATE runs SET status = 'cancelled', cancel_requested = true, completed_at = $2 WHERE id = $1 AND status = 'queued' RETURNING id",
      [id, this.#iso()],
    );
    return rows.length > 0;
  }

  async requestCancel(id: string): Promise<void> {
    await query(
      this.pool,
      "UPDATE runs SET cancel_requested = true WHERE id = $1 AND status IN ('queued', 'running')",
      [id],
    );
  }

  async countRuns(status: RunStatus): Promise<number> {
    return Number(
      (await one(this.pool, 'SELECT count(*) AS n FROM runs WHERE status = $1', [status]))?.n ?? 0,
    );
  }

  async countQueuedByPriority(): Promise<Map<number, number>> {
    const rows = await query(
      this.pool,
      "SELECT priority, count(*) AS n FROM runs WHERE status = 'queued' GROUP BY priority",
      [],
    );
    return new Map(rows.map((r) => [Number(r.priority), Number(r.n)]));
  }

  // ---- workflows

  createWorkflow(
    w: WorkflowRecord,
    session: NewSession,
    run: NewRun,
    events: NewEvent[],
  ): Promise<{ workflow: WorkflowRecord; created: boolean; events: Event[] }> {
    const wa = workflowInsert(w);
    const now = this.#iso();
    const sa = sessionInsert(session, now);
    return transaction(this.pool, async (c) => {
      // A concurrent insert of the same key waits for the other transaction, then does nothing.
      const inserted = await one(
        c,
        `${insertSql('workflows', wa, ph)} ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
        values(wa),
      );
      if (!inserted) {
        const existing = await one(c, 'SELECT * FROM workflows WHERE idempotency_key = $1', [
          w.idempotencyKey ?? null,
        ]);
        if (!existing) throw new Error(`workflow ${w.id} was not inserted`);
        return { workflow: toWorkflow(existing), created: false, events: [] };
      }
      await query(c, insertSql('sessions', sa, ph), values(sa));
      await runs.insertRun(c, run, now);
      // Where the new session's events are notified is in the row just inserted: spare the lookup
      // (one round trip of every POST /api/workflows).
      if (session.workflowId === w.id)
        this.#notify.remember(session.id, {
          workflow_id: w.id,
          callback_url: inserted.callback_url ?? null,
          notify: inserted.notify ?? null,
        });
      const stored = (await events_.appendNotified(c, this.#notify, session.id, events, now)).events;
      return { workflow: toWorkflow(inserted), created: true, events: stored };
    });
  }

  async getWorkflow(id: string): Promise<WorkflowRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM workflows WHERE id = $1', [id]);
    return row && toWorkflow(row);
  }

  async listWorkflows(q: WorkflowQuery): Promise<Page<WorkflowRecord>> {
    return listPage(workflowsList(q), ph, this.#rows);
  }

  async updateWorkflow(id: string, patch: Partial<Omit<WorkflowRecord, 'id' | 'createdAt'>>): Promise<void> {
    const a = workflowPatch(patch);
    if (a.length === 0) return;
    await query(this.pool, updateSql('workflows', a, ph), [...values(a), id]);
  }

  // ---- outbox

  async enqueueOutbox(o: OutboxRecord): Promise<void> {
    const a = outboxInsert(o);
    await query(
      this.pool,
      `${insertSql('outbox', a, ph)} ${o.kind === 'event' ? 'ON CONFLICT (id) DO NOTHING' : transitions.RESULT_CONFLICT}`,
      values(a),
    );
  }

  async dueOutbox(now: string, limit: number): Promise<OutboxRecord[]> {
    const rows = await query(this.pool, dueOutboxSql(ph), [toIso(now), Math.max(1, Math.floor(limit))]);
    return rows.map(toOutbox);
  }

  async updateOutbox(
    id: string,
    patch: Partial<Pick<OutboxRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'deliveredAt'>>,
  ): Promise<void> {
    const a = outboxPatch(patch);
    if (a.length === 0) return;
    await query(this.pool, updateSql('outbox', a, ph), [...values(a), id]);
  }

  async getOutboxForWorkflow(workflowId: string): Promise<OutboxRecord | undefined> {
    const row = await one(this.pool, "SELECT * FROM outbox WHERE workflow_id = $1 AND kind = 'result'", [
      workflowId,
    ]);
    return row && toOutbox(row);
  }

  async listOutboxForWorkflow(workflowId: string): Promise<OutboxRecord[]> {
    return (
      await query(this.pool, 'SELECT * FROM outbox WHERE workflow_id = $1 ORDER BY ord', [workflowId])
    ).map(toOutbox);
  }

  // ---- approvals

  requestApproval(a: NewApproval): Promise<ApprovalChange> {
    return approvals.requestApproval(this.pool, a, this.#iso(), this.#notify);
  }

  decideApproval(d: ApprovalDecisionInput): Promise<ApprovalChange> {
    return approvals.decideApproval(this.pool, d, this.#iso(), this.#notify);
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM approvals WHERE id = $1', [id]);
    return row && toApproval(row);
  }

  async listApprovals(q: ApprovalQuery): Promise<Page<ApprovalRecord>> {
    return listPage(approvalsList(q), ph, this.#rows);
  }

  pendingApprovals(runId: string): Promise<ApprovalRecord[]> {
    return approvals.pendingApprovals(this.pool, runId);
  }

  resolveOrphanedApprovals(now: string): Promise<Event[]> {
    return approvals.resolveOrphaned(this.pool, toIso(now), this.#iso(), this.#notify);
  }

  // ---- nonces

  async acceptNonce(nonce: string, expiresAt: string): Promise<boolean> {
    const exp = toIso(expiresAt);
    const now = this.#iso();
    // A concurrent insert of the same nonce (any instance) waits for the first to commit, then
    // sees its unexpired record in the WHERE and updates nothing: exactly one caller gets a row.
    const took = await one(
      this.pool,
      `INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2)
       ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE nonces.expires_at <= $3
       RETURNING nonce`,
      [nonce, exp, now],
    );
    if (++this.#nonceAccepts % NONCE_PRUNE_EVERY === 0) {
      // housekeeping only: a failure here must not fail the request that triggered it
      await this.pruneNonces(now).catch(() => undefined);
    }
    return took !== undefined;
  }

  async pruneNonces(now: string): Promise<number> {
    const res = await this.pool.query('DELETE FROM nonces WHERE expires_at <= $1', [toIso(now)]);
    return res.rowCount ?? 0;
  }

  // ---- instances

  async heartbeatInstance(i: { id: string; version: string; startedAt: string }, now: string): Promise<void> {
    await query(
      this.pool,
      `INSERT INTO instances (id, version, started_at, heartbeat_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, started_at = EXCLUDED.started_at,
         heartbeat_at = EXCLUDED.heartbeat_at, stopped_at = NULL
         WHERE instances.heartbeat_at <= EXCLUDED.heartbeat_at`,
      [i.id, i.version, toIso(i.startedAt), toIso(now)],
    );
  }

  async stopInstance(id: string, now: string): Promise<void> {
    await query(this.pool, 'UPDATE instances SET stopped_at = $1 WHERE id = $2', [toIso(now), id]);
  }

  async listInstances(): Promise<InstanceRecord[]> {
    return (await query(this.pool, 'SELECT * FROM instances ORDER BY id')).map(toInstance);
  }

  async forgetInstances(before: string): Promise<number> {
    const res = await this.pool.query('DELETE FROM instances WHERE heartbeat_at < $1', [toIso(before)]);
    return res.rowCount ?? 0;
  }

  // ---- audit

  async appendAudit(a: Omit<AuditRecord, 'id'>): Promise<void> {
    const cols = auditInsert(a);
    await query(this.pool, insertSql('audit', cols, ph), values(cols));
  }

  async listAudit(q: AuditQuery): Promise<Page<AuditRecord>> {
    return listPage(auditList(q), ph, this.#rows);
  }
}
