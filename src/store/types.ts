// The persistence boundary. SQLite (embedded, default) and PostgreSQL (multi-instance)
// both implement `Store`; everything above this file is dialect-free.
import type {
  ApprovalDecidedBy,
  ApprovalDecision,
  EngineName,
  Event,
  EventType,
  NewEvent,
  Policy,
  Priority,
  RunFailure,
  SessionStatus,
  Usage,
  WorkflowResult,
  WorkflowStatus,
  WorkflowType,
} from '../protocol/index.ts';

/** A workflow status that never changes again. */
export const TERMINAL_WORKFLOW_STATUSES: readonly WorkflowStatus[] = ['completed', 'failed', 'cancelled'];

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
  /** Approval rules and budget (docs/api.md §10); a workflow's session carries the workflow's. */
  policy?: Policy;
  /** The credential id (`key:<hash>`, `signed:tier1`, …) that created it. */
  credential?: string;
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
  /** The credential (tenant) that asked for it: fair queueing and per-key caps count by it. */
  credential?: string;
  /** W3C traceparent of the request that queued it: the parent of the run's span. */
  traceParent?: string;
}

/** What `Store.queueMessage` stores together. */
export interface QueueMessage {
  run: NewRun;
  message: MessageRecord;
  events: NewEvent[];
}

export interface NewRun {
  id: string;
  sessionId: string;
  workflowId?: string;
  input: string;
  idempotencyKey?: string;
  priority: number;
  deadlineAt?: string;
  credential?: string;
  traceParent?: string;
}

/** What a claim may take (docs/api.md §10 fair queues and admission control). */
export interface ClaimOptions {
  /** MAX_RUNS_PER_KEY: a credential with this many running runs (all instances) gets no more. 0/unset: no cap. */
  maxRunsPerKey?: number;
  /** Only runs of sessions on these engines (memory admission). Unset: any engine. */
  engines?: readonly EngineName[];
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
  policy?: Policy;
  /** Event types sent to callbackUrl as they happen (docs/api.md §10). */
  notify?: EventType[];
  credential?: string;
}

export interface OutboxRecord {
  id: string;
  workflowId: string;
  /**
   * `result` (default): the workflow's terminal callback, one per workflow. `event`: a notification
   * of one of its events (docs/api.md §10), queued with the event. A workflow's rows are delivered
   * one at a time, in the order they were queued.
   */
  kind?: 'result' | 'event';
  url: string;
  body: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string;
  lastError?: string;
  createdAt: string;
  deliveredAt?: string;
  /** W3C traceparent the delivery continues (the run's request): sent as the `traceparent` header's parent. */
  traceParent?: string;
}

/** A tool call a policy rule stopped until someone decides (docs/api.md §10). */
export interface ApprovalRecord {
  id: string;
  sessionId: string;
  workflowId?: string;
  runId: string;
  toolUseId: string;
  name: string;
  input: unknown;
  rule: string;
  status: 'pending' | 'decided';
  decision?: ApprovalDecision;
  by?: ApprovalDecidedBy;
  message?: string;
  requestedAt: string;
  expiresAt: string;
  decidedAt?: string;
}

/** A new approval request; `requestedAt` is the store's clock. */
export type NewApproval = Pick<
  ApprovalRecord,
  'id' | 'sessionId' | 'workflowId' | 'runId' | 'toolUseId' | 'name' | 'input' | 'rule' | 'expiresAt'
>;

export interface ApprovalDecisionInput {
  id: string;
  decision: ApprovalDecision;
  by: ApprovalDecidedBy;
  message?: string;
  /** Decide only when the approval belongs to this session (a session route). */
  sessionId?: string;
  /** Decide only when the approval belongs to this workflow (a workflow route). */
  workflowId?: string;
}

export interface ApprovalChange {
  /** The approval as stored after the call; undefined when there is none (or not in that session/workflow). */
  approval?: ApprovalRecord;
  /** True when this call made the change (false: the approval was not pending, or its run was not running). */
  changed: boolean;
  /** Events the transaction stored, in seq order, for the event log to publish. */
  events: Event[];
  /** Whether a notification of those events was queued in the outbox. */
  outboxQueued: boolean;
}

export type ApprovalQuery = PageQuery & { status?: 'pending' | 'decided' };

/** A server instance on the store (heartbeats feed the `instance_down` alert, docs/api.md §11). */
export interface InstanceRecord {
  id: string;
  version: string;
  startedAt: string;
  heartbeatAt: string;
  /** Set when the instance stopped cleanly (a drained shutdown); unset while it runs or after a crash. */
  stoppedAt?: string;
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

/**
 * A run's end as ONE transaction: the run row, its terminal event, the session's status, usage and
 * engine state, the run's conversation turns and — for a workflow's run — the workflow's terminal
 * record, its status event and its callback. A crash leaves all of it or none of it.
 */
export interface RunFinish {
  runId: string;
  status: 'completed' | 'failed' | 'cancelled';
  stopReason?: string;
  error?: RunFailure;
  usage: Usage;
  /** `run.completed` / `run.failed` / `run.cancelled`. */
  event: NewEvent;
  /** Only when the run is in one of these states (default: queued or running); else nothing happens. */
  from?: Array<'queued' | 'running'>;
  /** The run's assistant (and tool-result) turns, for the next run's history. Ids already stored are kept. */
  messages?: MessageRecord[];
  /** Merged into the session's engine state (e.g. the Claude conversation id). */
  engineState?: Record<string, unknown>;
  /** A workflow's terminal transition (applied only while the workflow is not terminal). */
  workflow?: WorkflowTransition & { outbox?: OutboxRecord };
}

export interface RunFinished {
  /** False when the run was not in a state `from` allows (someone else finished or re-queued it). */
  finished: boolean;
  /** The events stored by the transaction, in seq order, for the event log to publish. */
  events: Event[];
  /** Whether the workflow's callback was queued. */
  outboxQueued: boolean;
}

/** A workflow status change together with its `workflow.status` event. */
export interface WorkflowTransition {
  id: string;
  patch: Partial<Omit<WorkflowRecord, 'id' | 'createdAt'>>;
  event: NewEvent;
  /** Applied only when the workflow is in one of these states (default: any non-terminal one). */
  from?: WorkflowStatus[];
}

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
  /** For operators (health, logs) only: behaviour must depend on `shared`, never on this. */
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Whether several server instances may use this store at once (PostgreSQL). When false (the
   * embedded SQLite), this process is the only one: whatever it left `running` died with it, no
   * other instance enqueues work or delivers callbacks, workspaces are never on another machine.
   */
  readonly shared: boolean;
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
  /**
   * A message's run queued in ONE transaction (one group commit, not one per write): the run, the
   * user message, the session's status (`queued` if it was `idle`) and the events announcing them,
   * returned with their seq for publishing. A taken idempotency key → ConflictError, nothing stored.
   */
  queueMessage(q: QueueMessage): Promise<{ run: RunRecord; events: Event[] }>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** The runs among `ids` that exist, in no particular order (one query: a heartbeat's check of all its runs). */
  getRuns(ids: string[]): Promise<RunRecord[]>;
  findRunByIdempotencyKey(sessionId: string, key: string): Promise<RunRecord | undefined>;
  listRuns(sessionId: string): Promise<RunRecord[]>;
  /**
   * Atomically claims the next runnable run: queued, no other run of its session running, its
   * credential under `maxRunsPerKey`, its session's engine among `engines`. Highest priority
   * first; within a priority, round robin across credentials (the one with the fewest running
   * runs, then the one whose last run ended longest ago, then the oldest queued run); FIFO within
   * a credential.
   * Sets status=running, workerId, lease, attempts+1.
   */
  claimNextRun(workerId: string, leaseMs: number, opts?: ClaimOptions): Promise<RunRecord | undefined>;
  /** Usage of the credential's runs that ended at or after `since` (ISO time): the daily cap. */
  credentialUsageSince(credential: string, since: string): Promise<Usage>;
  renewLeases(workerId: string, runIds: string[], leaseMs: number): Promise<void>;
  /** Re-queues running runs whose lease expired (or all of `workerIds`'s when given). Returns them. */
  requeueExpiredRuns(now: string): Promise<RunRecord[]>;
  /** A run's end, in one transaction (see RunFinish). */
  finishRun(f: RunFinish): Promise<RunFinished>;
  requeueRun(id: string): Promise<void>;
  requestCancel(id: string): Promise<void>;
  /** Cancels a run only if it is still `queued` (atomic check-and-set); true when it did. */
  cancelQueuedRun(id: string): Promise<boolean>;
  countRuns(status: RunStatus): Promise<number>;
  /** Queued runs per priority value (only priorities with at least one), for stats and metrics. */
  countQueuedByPriority(): Promise<Map<number, number>>;

  // workflows
  /**
   * Creates the workflow, its session, its queued run and the session's first events in one
   * transaction, so an accepted workflow is durable as a whole. With an idempotency key already
   * used, creates nothing and returns the existing workflow with created=false (and no events).
   */
  createWorkflow(
    w: WorkflowRecord,
    session: NewSession,
    run: NewRun,
    events: NewEvent[],
  ): Promise<{ workflow: WorkflowRecord; created: boolean; events: Event[] }>;
  /** Changes a workflow's status and stores its `workflow.status` event in one transaction; null when `from` did not match. */
  transitionWorkflow(t: WorkflowTransition): Promise<Event | null>;
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
  /** The workflow's terminal callback (kind `result`). */
  getOutboxForWorkflow(workflowId: string): Promise<OutboxRecord | undefined>;
  /** Every outbox row of the workflow (results and notifications), in the order they were queued. */
  listOutboxForWorkflow(workflowId: string): Promise<OutboxRecord[]>;

  // approvals (docs/api.md §10)
  /**
   * In ONE transaction: the pending approval, its `approval.requested` event and the session's
   * status `waiting` — only while the approval's run is `running` (else nothing, changed=false).
   */
  requestApproval(a: NewApproval): Promise<ApprovalChange>;
  /**
   * In ONE transaction: the decision of a pending approval, its `approval.resolved` event, and the
   * session's status back to `running` when it has no other pending approval. changed=false (and
   * nothing stored) when it is not pending, or does not belong to the given session/workflow
   * (then `approval` is undefined).
   */
  decideApproval(d: ApprovalDecisionInput): Promise<ApprovalChange>;
  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  /** Newest first (by requestedAt). */
  listApprovals(q: ApprovalQuery): Promise<Page<ApprovalRecord>>;
  /** Pending approvals of a run, oldest first. */
  pendingApprovals(runId: string): Promise<ApprovalRecord[]>;
  /**
   * Denies (by `restart`) every pending approval whose run is not `running`, or is running with a
   * lease that expired before `now` — the runs a restart re-queues (call it before requeueExpiredRuns).
   * Each with its `approval.resolved` event; returns the stored events.
   */
  resolveOrphanedApprovals(now: string): Promise<Event[]>;

  // replay protection of signed requests (docs/api.md §3), shared by every instance on the database
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

  // server instances: each heart-beats; the alert leader reads them (docs/api.md §11)
  /** Records that instance `i.id` is alive at `now`: creates its row, or renews it and clears stoppedAt. */
  heartbeatInstance(i: { id: string; version: string; startedAt: string }, now: string): Promise<void>;
  /** Marks an instance as stopped cleanly at `now`. */
  stopInstance(id: string, now: string): Promise<void>;
  /** Every instance row, ordered by id. */
  listInstances(): Promise<InstanceRecord[]>;
  /** Deletes the instances whose last heartbeat is before `before`; returns how many. */
  forgetInstances(before: string): Promise<number>;

  // audit
  appendAudit(a: Omit<AuditRecord, 'id'>): Promise<void>;
  listAudit(q: AuditQuery): Promise<Page<AuditRecord>>;
}
