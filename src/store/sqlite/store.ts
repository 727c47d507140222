// Store on embedded SQLite (node:sqlite): one file `<dataDir>/agent.db`, WAL, synchronous=FULL.
// Reads run immediately; writes go through SqliteDb.write (group commit), so a resolved write
// is on disk. Every time it records or compares (timestamps, leases, nonce expiry) is read from
// its clock (`now`, default Date.now), so tests can move it.
import { COALESCIBLE, type Event, type Usage } from '../../protocol/index.ts';
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
import { toJson } from '../shared/json.ts';
import { NONCE_PRUNE_EVERY } from '../shared/nonces.ts';
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
import { type Checkpointer, startCheckpointer } from './checkpointer.ts';
import { SqliteDb, type SqliteOptions } from './db.ts';
import { appendNotified, encodeEvents } from './events.ts';
import { migrateSqlite } from './migrate.ts';
import * as runs from './runs.ts';
import * as transitions from './transitions.ts';

const q = (): string => '?';
const QUEUE_IDLE_SESSION =
  "UPDATE sessions SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'idle'";

export interface SqliteStoreOptions extends SqliteOptions {
  /** The store's clock (ms since the epoch); default Date.now. */
  now?: () => number;
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  /** One process owns the file (see Store.shared). */
  readonly shared = false;
  readonly file: string;
  readonly db: SqliteDb;
  #nonceAccepts = 0;
  #checkpointer?: Checkpointer;
  readonly #now: () => number;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.file = file;
    this.db = new SqliteDb(file, options);
    this.#now = options.now ?? Date.now;
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db);
    if (this.file !== ':memory:' && !this.#checkpointer) {
      this.#checkpointer = startCheckpointer(this.file);
      // Checkpoints now run in the worker; this one is only the safety net (~400 MB of WAL).
      this.db.raw.exec('PRAGMA wal_autocheckpoint = 100000');
    }
  }

  async close(): Promise<void> {
    await this.#checkpointer?.stop();
    this.#checkpointer = undefined;
    this.db.close();
  }

  async ping(): Promise<void> {
    this.db.get('SELECT 1 AS ok');
  }

  /** Runs a list query's SQL (listPage). */
  #rows = (sql: string, params: Value[]): Row[] => this.db.all(sql, ...params);

  // ---- sessions

  createSession(s: NewSession): Promise<SessionRecord> {
    const a = sessionInsert(s, this.#iso());
    return this.db.write(() =>
      toSession(this.db.get(`${insertSql('sessions', a, q)} RETURNING *`, ...values(a))!),
    );
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.db.get('SELECT * FROM sessions WHERE id = ?', id);
    return row && toSession(row);
  }

  async listSessions(query: SessionQuery): Promise<Page<SessionRecord>> {
    return listPage(sessionsList(query), q, this.#rows);
  }

  async updateSession(
    id: string,
    patch: Partial<Pick<SessionRecord, 'status' | 'title' | 'engineState' | 'workspaceReady'>>,
  ): Promise<void> {
    const a = sessionPatch(patch);
    a.push(['updated_at', this.#iso()]);
    await this.db.write(() => this.db.run(updateSql('sessions', a, q), ...values(a), id));
  }

  async addSessionUsage(id: string, usage: Usage): Promise<void> {
    await this.db.write(() =>
      this.db.run(
        `UPDATE sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,
                cost_usd = cost_usd + ?, updated_at = ? WHERE id = ?`,
        usage.inputTokens,
        usage.outputTokens,
        usage.costUsd,
        this.#iso(),
        id,
      ),
    );
  }

  deleteSession(id: string): Promise<boolean> {
    // messages, events and runs go with it (ON DELETE CASCADE)
    return this.db.write(() => this.db.run('DELETE FROM sessions WHERE id = ?', id) > 0);
  }

  // ---- messages

  async addMessage(m: MessageRecord): Promise<void> {
    const a = messageInsert(m);
    await this.db.write(() => this.db.run(insertSql('messages', a, q), ...values(a)));
  }

  async listMessages(sessionId: string): Promise<MessageRecord[]> {
    return this.db.all('SELECT * FROM messages WHERE session_id = ? ORDER BY ord', sessionId).map(toMessage);
  }

  // ---- events

  appendEvents(sessionId: string, events: NewEvent[]): Promise<Event[]> {
    const ts = this.#iso();
    const encoded = encodeEvents(events);
    return this.db.write(() => appendNotified(this.db, sessionId, events, encoded, ts).events);
  }

  appendEventBatches(batches: Array<{ sessionId: string; events: NewEvent[] }>): Promise<Event[][]> {
    const ts = this.#iso();
    const encoded = batches.map((b) => b.events.map((e) => toJson(e.data ?? {})));
    // one job: all sessions' events commit together or not at all
    const durable = batches.some((b) => b.events.some((e) => !COALESCIBLE.has(e.type)));
    return this.db.write(
      () => batches.map((b, i) => appendNotified(this.db, b.sessionId, b.events, encoded[i]!, ts).events),
      {
        durable,
      },
    );
  }

  async listEvents(sessionId: string, after: number, limit: number): Promise<Event[]> {
    if (limit <= 0) return [];
    return this.db
      .all(
        'SELECT * FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?',
        sessionId,
        Math.max(0, Math.floor(after)),
        Math.floor(limit),
      )
      .map(toEvent);
  }

  // ---- runs

  createRun(r: NewRun): Promise<RunRecord> {
    const now = this.#iso();
    return this.db.write(() => runs.insertRun(this.db, r, now));
  }

  queueMessage(m: QueueMessage): Promise<{ run: RunRecord; events: Event[] }> {
    const now = this.#iso();
    const ma = messageInsert(m.message);
    const encoded = encodeEvents(m.events);
    return this.db.write(() => {
      const run = runs.insertRun(this.db, m.run, now);
      this.db.run(insertSql('messages', ma, q), ...values(ma));
      this.db.run(QUEUE_IDLE_SESSION, now, m.run.sessionId);
      return { run, events: appendNotified(this.db, m.run.sessionId, m.events, encoded, now).events };
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.db.get('SELECT * FROM runs WHERE id = ?', id);
    return row && toRun(row);
  }

  async getRuns(ids: string[]): Promise<RunRecord[]> {
    if (ids.length === 0) return [];
    return this.db
      .all('SELECT * FROM runs WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify(ids))
      .map(toRun);
  }

  async findRunByIdempotencyKey(sessionId: string, key: string): Promise<RunRecord | undefined> {
    const row = this.db.get(
      'SELECT * FROM runs WHERE session_id = ? AND idempotency_key = ?',
      sessionId,
      key,
    );
    return row && toRun(row);
  }

  async listRuns(sessionId: string): Promise<RunRecord[]> {
    return this.db.all('SELECT * FROM runs WHERE session_id = ? ORDER BY queue_seq', sessionId).map(toRun);
  }

  claimNextRun(workerId: string, leaseMs: number, opts: ClaimOptions = {}): Promise<RunRecord | undefined> {
    return this.db.write(() => {
      const now = this.#now();
      return runs.claimNext(this.db, workerId, isoAfter(leaseMs, now), new Date(now).toISOString(), opts);
    });
  }

  async credentialUsageSince(credential: string, since: string): Promise<Usage> {
    const row = this.db.get(
      `SELECT coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
              coalesce(sum(cost_usd), 0) AS cost_usd
         FROM runs WHERE credential = ? AND completed_at >= ?`,
      credential,
      toIso(since),
    );
    return usageOf(row);
  }

  async renewLeases(workerId: string, runIds: string[], leaseMs: number): Promise<void> {
    if (runIds.length === 0) return;
    await this.db.write(() => runs.renew(this.db, workerId, runIds, isoAfter(leaseMs, this.#now())));
  }

  requeueExpiredRuns(now: string): Promise<RunRecord[]> {
    const at = toIso(now);
    return this.db.write(() => runs.requeueExpired(this.db, at));
  }

  finishRun(f: RunFinish): Promise<RunFinished> {
    return transitions.finishRun(this.db, f, this.#iso());
  }

  transitionWorkflow(t: WorkflowTransition): Promise<Event | null> {
    return transitions.transitionWorkflow(this.db, t, this.#iso());
  }

  async requeueRun(id: string): Promise<void> {
    await this.db.write(() => runs.requeue(this.db, id));
  }

  cancelQueuedRun(id: string): Promise<boolean> {
    const now = this.#iso();
    return this.db.write(
      () =>
        this.db.run(
          "UPDATE runs SET status = 'cancelled', cancel_requested = 1, completed_at = ? WHERE id = ? AND status = 'queued'",
          now,
          id,
        ) > 0,
    );
  }

  async requestCancel(id: string): Promise<void> {
    await this.db.write(() =>
      this.db.run(
        "UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status IN ('queued', 'running')",
        id,
      ),
    );
  }

  async countRuns(status: RunStatus): Promise<number> {
    return Number(this.db.get('SELECT count(*) AS n FROM runs WHERE status = ?', status)?.n ?? 0);
  }

  async countQueuedByPriority(): Promise<Map<number, number>> {
    const rows = this.db.all(
      "SELECT priority, count(*) AS n FROM runs WHERE status = 'queued' GROUP BY priority",
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
    const encoded = encodeEvents(events);
    return this.db.write(() => {
      const inserted = this.db.get(
        `${insertSql('workflows', wa, q)} ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
        ...values(wa),
      );
      if (!inserted) {
        const existing = this.db.get(
          'SELECT * FROM workflows WHERE idempotency_key = ?',
          w.idempotencyKey ?? null,
        );
        if (!existing) throw new Error(`workflow ${w.id} was not inserted`);
        return { workflow: toWorkflow(existing), created: false, events: [] };
      }
      this.db.run(insertSql('sessions', sa, q), ...values(sa));
      runs.insertRun(this.db, run, now);
      const stored = appendNotified(this.db, session.id, events, encoded, now).events;
      return { workflow: toWorkflow(inserted), created: true, events: stored };
    });
  }

  async getWorkflow(id: string): Promise<WorkflowRecord | undefined> {
    const row = this.db.get('SELECT * FROM workflows WHERE id = ?', id);
    return row && toWorkflow(row);
  }

  async listWorkflows(query: WorkflowQuery): Promise<Page<WorkflowRecord>> {
    return listPage(workflowsList(query), q, this.#rows);
  }

  async updateWorkflow(id: string, patch: Partial<Omit<WorkflowRecord, 'id' | 'createdAt'>>): Promise<void> {
    const a = workflowPatch(patch);
    if (a.length === 0) return;
    await this.db.write(() => this.db.run(updateSql('workflows', a, q), ...values(a), id));
  }

  // ---- outbox

  async enqueueOutbox(o: OutboxRecord): Promise<void> {
    const a = outboxInsert(o);
    await this.db.write(() =>
      this.db.run(
        `${insertSql('outbox', a, q)} ${o.kind === 'event' ? 'ON CONFLICT (id) DO NOTHING' : transitions.RESULT_CONFLICT}`,
        ...values(a),
      ),
    );
  }

  async dueOutbox(now: string, limit: number): Promise<OutboxRecord[]> {
    return this.db.all(dueOutboxSql(q), toIso(now), Math.max(1, Math.floor(limit))).map(toOutbox);
  }

  async updateOutbox(
    id: string,
    patch: Partial<Pick<OutboxRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'deliveredAt'>>,
  ): Promise<void> {
    const a = outboxPatch(patch);
    if (a.length === 0) return;
    await this.db.write(() => this.db.run(updateSql('outbox', a, q), ...values(a), id));
  }

  async getOutboxForWorkflow(workflowId: string): Promise<OutboxRecord | undefined> {
    const row = this.db.get("SELECT * FROM outbox WHERE workflow_id = ? AND kind = 'result'", workflowId);
    return row && toOutbox(row);
  }

  async listOutboxForWorkflow(workflowId: string): Promise<OutboxRecord[]> {
    return this.db.all('SELECT * FROM outbox WHERE workflow_id = ? ORDER BY ord', workflowId).map(toOutbox);
  }

  // ---- approvals

  requestApproval(a: NewApproval): Promise<ApprovalChange> {
    return approvals.requestApproval(this.db, a, this.#iso());
  }

  decideApproval(d: ApprovalDecisionInput): Promise<ApprovalChange> {
    return approvals.decideApproval(this.db, d, this.#iso());
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const row = this.db.get('SELECT * FROM approvals WHERE id = ?', id);
    return row && toApproval(row);
  }

  async listApprovals(query: ApprovalQuery): Promise<Page<ApprovalRecord>> {
    return listPage(approvalsList(query), q, this.#rows);
  }

  async pendingApprovals(runId: string): Promise<ApprovalRecord[]> {
    return approvals.pendingApprovals(this.db, runId);
  }

  resolveOrphanedApprovals(now: string): Promise<Event[]> {
    return approvals.resolveOrphaned(this.db, toIso(now), this.#iso());
  }

  // ---- nonces

  async acceptNonce(nonce: string, expiresAt: string): Promise<boolean> {
    const exp = toIso(expiresAt);
    const now = this.#iso();
    const prune = ++this.#nonceAccepts % NONCE_PRUNE_EVERY === 0;
    return this.db.write(() => {
      // RETURNING yields a row only when the insert (or the renewal of an expired record) took
      const took = this.db.get(
        `INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)
         ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ?
         RETURNING nonce`,
        nonce,
        exp,
        now,
      );
      if (prune) this.db.run('DELETE FROM nonces WHERE expires_at <= ?', now);
      return took !== undefined;
    });
  }

  async pruneNonces(now: string): Promise<number> {
    const at = toIso(now);
    return this.db.write(() => this.db.run('DELETE FROM nonces WHERE expires_at <= ?', at));
  }

  // ---- instances

  async heartbeatInstance(i: { id: string; version: string; startedAt: string }, now: string): Promise<void> {
    const at = toIso(now);
    const started = toIso(i.startedAt);
    await this.db.write(() =>
      this.db.run(
        `INSERT INTO instances (id, version, started_at, heartbeat_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at,
           heartbeat_at = excluded.heartbeat_at, stopped_at = NULL
         WHERE instances.heartbeat_at <= excluded.heartbeat_at`,
        i.id,
        i.version,
        started,
        at,
      ),
    );
  }

  async stopInstance(id: string, now: string): Promise<void> {
    const at = toIso(now);
    await this.db.write(() => this.db.run('UPDATE instances SET stopped_at = ? WHERE id = ?', at, id));
  }

  async listInstances(): Promise<InstanceRecord[]> {
    return this.db.all('SELECT * FROM instances ORDER BY id').map(toInstance);
  }

  async forgetInstances(before: string): Promise<number> {
    const at = toIso(before);
    return this.db.write(() => this.db.run('DELETE FROM instances WHERE heartbeat_at < ?', at));
  }

  // ---- audit

  async appendAudit(a: Omit<AuditRecord, 'id'>): Promise<void> {
    const cols = auditInsert(a);
    await this.db.write(() => this.db.run(insertSql('audit', cols, q), ...values(cols)));
  }

  async listAudit(query: AuditQuery): Promise<Page<AuditRecord>> {
    return listPage(auditList(query), q, this.#rows);
  }
}
