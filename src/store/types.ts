// The persistence boundary. SQLite (embedded, default) and PostgreSQL (multi-instance)
// both implement `Store`; everything above this file is dialect-free.
import type {
  EngineName,
  Event,
  NewEvent,
  Priority,
  RunFailure,
  SessionStatus,
  Usage,
  WorkflowResult,
  WorkflowStatus,
  WorkflowType,
} from '../protocol/index.ts';

export interface SessionRecord {
  id: string;
  title: string;
  status: SessionStatus;
  engine: EngineName;
  model: string;
  repoUrl?: string;
  branch?: string;
  systemPrompt?: string;
  metadata: Record<string, unknown>;
  lastSeq: number;
  usage: Usage;
  /** Engine-private resumable state, e.g. the Claude Agent SDK session id. */
  engineState: Record<string, unknown>;
  /** Set for sessions owned by a workflow. */
  workflowId?: string;
  workspaceReady: boolean;
  createdAt: string;
  updatedAt: string;
}

export type NewSession = Omit<
  SessionRecord,
  'status' | 'lastSeq' | 'usage' | 'engineState' | 'createdAt' | 'updatedAt' | 'workspaceReady'
>;

export interface MessageRecord {
  id: string;
  sessionId: string;
  runId?: string;
  role: 'user' | 'assistant';
  text: string;
  /** Engine-format content (e.g. Anthropic content blocks incl. tool_use/tool_result), for faithful history. */
  content?: unknown;
  createdAt: string;
}

export type RunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const PRIORITY_RANK: Record<Priority, number> = { low: 0, medium: 1, high: 2 };

export interface RunRecord {
  id: string;
  sessionId: string;
  workflowId?: string;
  status: RunStatus;
  input: string;
  idempotencyKey?: string;
  priority: number;
  attempts: number;
  workerId?: string;
  leaseExpiresAt?: string;
  cancelRequested: boolean;
  /** Absolute deadline; past it the run is stopped and fails with code `timeout`. */
  deadlineAt?: string;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  stopReason?: string;
  error?: RunFailure;
  usage: Usage;
}

export interface NewRun {
  id: string;
  sessionId: string;
  workflowId?: string;
  input: string;
  idempotencyKey?: string;
  priority: number;
  deadlineAt?: string;
}

export interface WorkflowRecord {
  id: string;
  type: WorkflowType;
  priority: Priority;
  status: WorkflowStatus;
  instructions: string;
  repoUrl?: string;
  branch?: string;
  engine?: EngineName;
  model?: string;
  callbackUrl?: string;
  idempotencyKey?: string;
  timeoutMs: number;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  sessionId: string;
  runId: string;
  attempts: number;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  result?: WorkflowResult;
  error?: RunFailure;
  usage: Usage;
}

export interface OutboxRecord {
  id: string;
  workflowId: string;
  url: string;
  body: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string;
  lastError?: string;
  createdAt: string;
  deliveredAt?: string;
}

export interface AuditRecord {
  id: number;
  ts: string;
  actor: string;
  action: string;
  target?: string;
  outcome: 'ok' | 'error' | 'denied';
  details: Record<string, unknown>;
}

/** An event before the store gives it a seq: a discriminated union by `type` (see protocol/event-types.ts). */
export type { NewEvent };

export interface PageQuery {
  limit: number;
  cursor?: string;
}
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
export type SessionQuery = PageQuery & { status?: SessionStatus };
export type WorkflowQuery = PageQuery & { status?: WorkflowStatus; type?: WorkflowType };
export interface AuditQuery {
  limit: number;
  cursor?: string;
  action?: string;
  actor?: string;
  target?: string;
  since?: string;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;
  ping(): Promise<void>;

  // sessions
  createSession(s: NewSession): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  listSessions(q: SessionQuery): Promise<Page<SessionRecord>>;
  updateSession(
    id: string,
    patch: Partial<Pick<SessionRecord, 'status' | 'title' | 'engineState' | 'workspaceReady'>>,
  ): Promise<void>;
  addSessionUsage(id: string, usage: Usage): Promise<void>;
  deleteSession(id: string): Promise<boolean>;

  // messages
  addMessage(m: MessageRecord): Promise<void>;
  listMessages(sessionId: string): Promise<MessageRecord[]>;

  // events: seq assigned atomically per session, gap-free; returns the stored events in order
  appendEvents(sessionId: string, events: NewEvent[]): Promise<Event[]>;
  /**
   * Appends events of several sessions in ONE transaction (one fsync): the event log's group commit
   * under load. Per-session semantics as `appendEvents`; result[i] belongs to batches[i].
   */
  appendEventBatches(batches: Array<{ sessionId: string; events: NewEvent[] }>): Promise<Event[][]>;
  listEvents(sessionId: string, after: number, limit: number): Promise<Event[]>;

  // runs and the queue
  createRun(r: NewRun): Promise<RunRecord>;
  getRun(id: string): Promise<RunRecord | undefined>;
  findRunByIdempotencyKey(sessionId: string, key: string): Promise<RunRecord | undefined>;
  listRuns(sessionId: string): Promise<RunRecord[]>;
  /**
   * Atomically claims the next runnable run: queued, no other run of its session running,
   * highest priority first, FIFO within a priority. Sets status=running, workerId, lease, attempts+1.
   */
  claimNextRun(workerId: string, leaseMs: number): Promise<RunRecord | undefined>;
  renewLeases(workerId: string, runIds: string[], leaseMs: number): Promise<void>;
  /** Re-queues running runs whose lease expired (or all of `workerIds`'s when given). Returns them. */
  requeueExpiredRuns(now: string): Promise<RunRecord[]>;
  finishRun(
    id: string,
    patch: {
      status: 'completed' | 'failed' | 'cancelled';
      stopReason?: string;
      error?: RunFailure;
      usage?: Usage;
    },
  ): Promise<void>;
  requeueRun(id: string): Promise<void>;
  requestCancel(id: string): Promise<void>;
  /** Cancels a run only if it is still `queued` (atomic check-and-set); true when it did. */
  cancelQueuedRun(id: string): Promise<boolean>;
  countRuns(status: RunStatus): Promise<number>;

  // workflows
  /**
   * Creates the workflow, its session and its queued run in one transaction, so an accepted
   * workflow is durable as a whole. With an idempotency key already used, creates nothing and
   * returns the existing workflow with created=false.
   */
  createWorkflow(
    w: WorkflowRecord,
    session: NewSession,
    run: NewRun,
  ): Promise<{ workflow: WorkflowRecord; created: boolean }>;
  getWorkflow(id: string): Promise<WorkflowRecord | undefined>;
  listWorkflows(q: WorkflowQuery): Promise<Page<WorkflowRecord>>;
  updateWorkflow(id: string, patch: Partial<Omit<WorkflowRecord, 'id' | 'createdAt'>>): Promise<void>;

  // callback outbox
  enqueueOutbox(o: OutboxRecord): Promise<void>;
  dueOutbox(now: string, limit: number): Promise<OutboxRecord[]>;
  updateOutbox(
    id: string,
    patch: Partial<Pick<OutboxRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'deliveredAt'>>,
  ): Promise<void>;
  getOutboxForWorkflow(workflowId: string): Promise<OutboxRecord | undefined>;

  // replay protection of signed requests (CONTRACT §3), shared by every instance on the database
  /**
   * Atomically records `nonce` as used until `expiresAt` (ISO timestamp). True when it was new, or
   * its previous record had expired (`expires_at <= now`; the record is then renewed); false when
   * it is recorded and unexpired — a replay. Race-safe across connections and instances: of
   * concurrent calls with the same nonce exactly one returns true. Every NONCE_PRUNE_EVERY calls
   * the store also deletes expired records (as `pruneNonces(now)`).
   */
  acceptNonce(nonce: string, expiresAt: string): Promise<boolean>;
  /** Deletes the nonce records expired at `now` (`expires_at <= now`); returns how many. */
  pruneNonces(now: string): Promise<number>;

  // audit
  appendAudit(a: Omit<AuditRecord, 'id'>): Promise<void>;
  listAudit(q: AuditQuery): Promise<Page<AuditRecord>>;
}
