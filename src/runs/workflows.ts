// Workflows (CONTRACT §6): durable background tasks from Tier 1. A workflow owns one session (same
// id, so its workspace is DATA_DIR/workspaces/<workflow id>) and one run in the shared queue. Its
// status follows the run through the scheduler's hooks; a terminal status queues the callback.
import type { Config } from '../config.ts';
import { AppError, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { literalHostRefusal } from '../net/allow-hosts.ts';
import type { Logger } from '../observability/logger.ts';
import {
  type CreateWorkflowRequest,
  emptyUsage,
  type Workflow,
  type WorkflowStatus,
  type WorkflowType,
} from '../protocol/index.ts';
import { buildChildEnv } from '../sandbox/child-env.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import type { WorkspaceManager } from '../sandbox/workspace/manager.ts';
import {
  type NewEvent,
  type OutboxRecord,
  type Page,
  PRIORITY_RANK,
  type RunRecord,
  type Store,
  type WorkflowRecord,
} from '../store/types.ts';
import type { EventLog } from './event-log.ts';
import type { RunHooks, RunOutcome } from './hooks.ts';
import type { Scheduler } from './scheduler.ts';
import { assertRepoUrl } from './sessions.ts';
import { workflowSystemPrompt } from './workflow-prompts.ts';
import { gitFacts, pullRequestUrl } from './workflow-results.ts';

export function toWorkflow(w: WorkflowRecord, outbox?: OutboxRecord): Workflow {
  return {
    id: w.id,
    type: w.type,
    priority: w.priority,
    status: w.status,
    instructions: w.instructions,
    ...(w.repoUrl ? { repoUrl: w.repoUrl } : {}),
    ...(w.branch ? { branch: w.branch } : {}),
    payload: w.payload,
    metadata: w.metadata,
    sessionId: w.sessionId,
    attempts: w.attempts,
    createdAt: w.createdAt,
    ...(w.startedAt ? { startedAt: w.startedAt } : {}),
    ...(w.completedAt ? { completedAt: w.completedAt } : {}),
    ...(w.result ? { result: w.result } : {}),
    ...(w.error ? { error: w.error } : {}),
    usage: w.usage,
    ...(w.callbackUrl ? { callbackUrl: w.callbackUrl } : {}),
    ...(outbox
      ? {
          callback: {
            status: outbox.status,
            attempts: outbox.attempts,
            ...(outbox.lastError ? { lastError: outbox.lastError } : {}),
            ...(outbox.deliveredAt ? { deliveredAt: outbox.deliveredAt } : {}),
          },
        }
      : {}),
  };
}

/**
 * http(s) only, and not a literal loopback/private/link-local/metadata/reserved address (any IPv4
 * spelling, IPv6, `localhost`, `*.localhost`) unless CALLBACK_ALLOW_HOSTS lists it. Host names are
 * judged again at delivery, after resolution (net/safe-post.ts).
 */
export function assertCallbackUrl(config: Pick<Config, 'callbackAllowHosts'>, raw: string): void {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new AppError('invalid_request', 'callbackUrl must be an http:// or https:// URL', {
      details: { field: 'callbackUrl' },
    });
  }
  // url.hostname is normalised: 2130706433, 0x7f000001 and 127.1 all read 127.0.0.1 here.
  const why = literalHostRefusal(config.callbackAllowHosts, url.hostname);
  if (why) {
    throw new AppError(
      'invalid_request',
      `callbackUrl host is not allowed: it is ${why}; list it in CALLBACK_ALLOW_HOSTS to allow it`,
      { details: { field: 'callbackUrl' } },
    );
  }
}

const TERMINAL: ReadonlySet<WorkflowStatus> = new Set(['completed', 'failed', 'cancelled']);

export class WorkflowService implements RunHooks {
  private store: Store;
  private config: Config;
  private logger: Logger;
  private eventLog: EventLog;
  private scheduler?: Scheduler;
  private workspaces: WorkspaceManager;
  private sandbox: SandboxWrapper;
  /** Told when a callback is queued, so delivery starts without waiting for the next poll. */
  onOutbox?: () => void;

  constructor(opts: {
    store: Store;
    config: Config;
    logger: Logger;
    eventLog: EventLog;
    workspaces: WorkspaceManager;
    sandbox: SandboxWrapper;
  }) {
    this.store = opts.store;
    this.config = opts.config;
    this.logger = opts.logger.child({ component: 'workflows' });
    this.eventLog = opts.eventLog;
    this.workspaces = opts.workspaces;
    this.sandbox = opts.sandbox;
  }

  /** The scheduler is built after this service (it takes it as its hooks). */
  attach(scheduler: Scheduler): void {
    this.scheduler = scheduler;
  }

  async create(req: CreateWorkflowRequest): Promise<{ workflow: Workflow; created: boolean }> {
    assertRepoUrl(this.config, req.repoUrl);
    if (req.callbackUrl) assertCallbackUrl(this.config, req.callbackUrl);
    const id = newId('wf');
    const now = new Date().toISOString();
    const priority = req.priority ?? 'medium';
    const rec: WorkflowRecord = {
      id,
      type: req.type,
      priority,
      status: 'pending',
      instructions: req.instructions,
      repoUrl: req.repoUrl,
      branch: req.branch,
      engine: req.engine,
      model: req.model,
      callbackUrl: req.callbackUrl,
      idempotencyKey: req.idempotencyKey,
      timeoutMs: req.timeoutMs ?? this.config.workflowTimeoutMs,
      payload: req.payload ?? {},
      metadata: req.metadata ?? {},
      sessionId: id,
      runId: newId('run'),
      attempts: 0,
      createdAt: now,
      usage: emptyUsage(),
    };
    const creating = this.store.createWorkflow(
      rec,
      {
        id,
        title: `${req.type}: ${req.instructions.slice(0, 80)}`,
        engine: req.engine ?? this.config.engine,
        model: req.model ?? this.config.model,
        repoUrl: req.repoUrl,
        branch: req.branch,
        systemPrompt: workflowSystemPrompt(req.type),
        metadata: req.metadata ?? {},
        workflowId: id,
      },
      {
        id: rec.runId,
        sessionId: id,
        workflowId: id,
        input: req.instructions,
        priority: PRIORITY_RANK[priority],
      },
    );
    const initial: NewEvent[] = [
      { runId: rec.runId, type: 'message.user', data: { text: req.instructions } },
      { runId: rec.runId, type: 'workflow.status', data: { status: 'pending', workflowId: id } },
      { runId: rec.runId, type: 'run.queued', data: { attempt: 1 } },
    ];
    // Embedded SQLite commits the write jobs queued in one turn together: queued right behind the
    // insert, the first events share its transaction (one fsync per accepted workflow, not two).
    // Nobody can be subscribed to a session that did not exist a moment ago, so the event log's
    // fan-out is not needed. For a known idempotency key the session does not exist: nothing is stored.
    const early =
      this.store.dialect === 'sqlite'
        ? this.store.appendEvents(id, initial).then(
            () => true,
            () => false,
          )
        : undefined;
    const { workflow, created } = await creating;
    if (created) {
      if (!(early && (await early))) await Promise.all(initial.map((e) => this.eventLog.append(id, e)));
      this.scheduler?.wake();
    } else if (early) {
      await early;
    }
    // A new workflow has no callback state yet.
    return {
      workflow: toWorkflow(
        workflow,
        created ? undefined : await this.store.getOutboxForWorkflow(workflow.id),
      ),
      created,
    };
  }

  async get(id: string): Promise<Workflow> {
    const w = await this.store.getWorkflow(id);
    if (!w) throw notFound('workflow', id);
    return toWorkflow(w, await this.store.getOutboxForWorkflow(id));
  }

  async list(q: {
    status?: WorkflowStatus;
    type?: WorkflowType;
    limit: number;
    cursor?: string;
  }): Promise<Page<Workflow>> {
    const page = await this.store.listWorkflows(q);
    const items: Workflow[] = [];
    for (const w of page.items)
      items.push(toWorkflow(w, w.callbackUrl ? await this.store.getOutboxForWorkflow(w.id) : undefined));
    return { items, nextCursor: page.nextCursor };
  }

  /** Pending: cancelled at once. Running: stopped, then cancelled. Terminal: 409. */
  async cancel(id: string): Promise<Workflow> {
    const w = await this.store.getWorkflow(id);
    if (!w) throw notFound('workflow', id);
    if (TERMINAL.has(w.status)) throw new AppError('conflict', `workflow ${id} is already ${w.status}`);
    await this.store.requestCancel(w.runId);
    if (await this.store.cancelQueuedRun(w.runId)) {
      await this.store.updateSession(w.sessionId, { status: 'idle' });
      const run = await this.store.getRun(w.runId);
      await this.eventLog.append(w.sessionId, {
        runId: w.runId,
        type: 'run.cancelled',
        data: { reason: 'cancelled while pending' },
      });
      if (run) await this.onFinished(run, { status: 'cancelled', usage: emptyUsage() });
    } else {
      this.scheduler?.stop(w.runId, 'cancel');
    }
    return this.get(id);
  }

  /** Deadline of a workflow run: `timeoutMs` after its first start (re-runs do not get a fresh budget). */
  async timeoutFor(run: RunRecord): Promise<number | undefined> {
    if (!run.workflowId) return undefined;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w) return undefined;
    const started = Date.parse(run.startedAt ?? new Date().toISOString());
    return started + w.timeoutMs;
  }

  // ---- run hooks -------------------------------------------------------------------------

  async onStarted(run: RunRecord): Promise<void> {
    if (!run.workflowId) return;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w || TERMINAL.has(w.status)) return;
    await this.store.updateWorkflow(w.id, {
      status: 'running',
      attempts: run.attempts,
      startedAt: w.startedAt ?? run.startedAt ?? new Date().toISOString(),
    });
    await this.eventLog.append(w.sessionId, {
      runId: run.id,
      type: 'workflow.status',
      data: { status: 'running', workflowId: w.id },
    });
  }

  async onRequeued(run: RunRecord): Promise<void> {
    if (!run.workflowId) return;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w || TERMINAL.has(w.status)) return;
    await this.store.updateWorkflow(w.id, { status: 'pending' });
    await this.eventLog.append(w.sessionId, {
      runId: run.id,
      type: 'workflow.status',
      data: { status: 'pending', workflowId: w.id },
    });
  }

  async onFinished(run: RunRecord, outcome: RunOutcome): Promise<void> {
    if (!run.workflowId) return;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w || TERMINAL.has(w.status)) return; // a terminal status is reached once
    const completedAt = new Date().toISOString();
    const fresh = await this.store.getRun(run.id);
    let attempts = fresh?.attempts ?? run.attempts;
    // The claim that found the limit exceeded did not start an execution.
    if (outcome.status === 'failed' && outcome.error.code === 'max_attempts_exceeded')
      attempts = Math.max(0, attempts - 1);
    const patch: Partial<WorkflowRecord> = {
      status: outcome.status,
      completedAt,
      usage: outcome.usage,
      attempts,
    };
    if (outcome.status === 'completed') {
      const session = await this.store.getSession(w.sessionId);
      const facts = await this.collectGitFacts(w, session?.engineState.workspaceBaseSha);
      const pr = pullRequestUrl(outcome.toolMeta);
      patch.result = { summary: outcome.finalText, ...facts, ...(pr ? { pullRequestUrl: pr } : {}) };
    } else if (outcome.status === 'failed') {
      patch.error = outcome.error;
    }
    await this.store.updateWorkflow(w.id, patch);
    await this.eventLog.append(w.sessionId, {
      runId: run.id,
      type: 'workflow.status',
      data: { status: outcome.status, workflowId: w.id },
    });
    await this.queueCallback(w.id);
  }

  private async collectGitFacts(w: WorkflowRecord, baseSha: unknown) {
    if (!w.repoUrl || typeof baseSha !== 'string') return {};
    try {
      const dir = this.workspaces.pathFor(w.sessionId);
      const env = buildChildEnv(this.config, { home: await this.workspaces.homeFor(w.sessionId) });
      return await gitFacts({ config: this.config, sandbox: this.sandbox, workspace: dir, env, baseSha });
    } catch (err) {
      this.logger.warn('could not read git facts of the workspace', { workflowId: w.id, err });
      return {};
    }
  }

  /** Queues the terminal Workflow for delivery (idempotent: one outbox row per workflow). */
  async queueCallback(workflowId: string): Promise<void> {
    const w = await this.store.getWorkflow(workflowId);
    if (!w?.callbackUrl || !TERMINAL.has(w.status)) return;
    if (await this.store.getOutboxForWorkflow(w.id)) return;
    const now = new Date().toISOString();
    await this.store.enqueueOutbox({
      id: `cb_${w.id}`,
      workflowId: w.id,
      url: w.callbackUrl,
      body: JSON.stringify(toWorkflow(w)),
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
    });
    this.onOutbox?.();
  }

  /**
   * Repairs what a crash between two writes can leave: a workflow whose run is terminal but whose
   * own status is not, or a terminal workflow whose callback was never queued.
   */
  async reconcile(): Promise<void> {
    for (const status of ['pending', 'running'] as const) {
      let cursor: string | undefined;
      do {
        const page = await this.store.listWorkflows({ status, limit: 200, cursor });
        for (const w of page.items) {
          const run = await this.store.getRun(w.runId);
          if (!run || run.status === 'queued' || run.status === 'running') continue;
          this.logger.warn('reconciling workflow with a finished run', {
            workflowId: w.id,
            runStatus: run.status,
          });
          await this.ensureTerminalEvent(w.sessionId, run);
          const usage = run.usage;
          const outcome: RunOutcome =
            run.status === 'completed'
              ? {
                  status: 'completed',
                  stopReason: run.stopReason ?? 'end_turn',
                  usage,
                  finalText: await this.lastAssistantText(w.sessionId),
                  toolMeta: [],
                }
              : run.status === 'failed'
                ? { status: 'failed', usage, error: run.error ?? { code: 'internal', message: 'run failed' } }
                : { status: 'cancelled', usage };
          await this.onFinished(run, outcome);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    for (const status of ['completed', 'failed', 'cancelled'] as const) {
      let cursor: string | undefined;
      do {
        const page = await this.store.listWorkflows({ status, limit: 500, cursor });
        for (const w of page.items) if (w.callbackUrl) await this.queueCallback(w.id);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
  }

  /** A crash between finishing the run row and storing its terminal event leaves the event missing. */
  private async ensureTerminalEvent(sessionId: string, run: RunRecord): Promise<void> {
    const type =
      run.status === 'completed' ? 'run.completed' : run.status === 'failed' ? 'run.failed' : 'run.cancelled';
    for (let after = 0; ; ) {
      const page = await this.store.listEvents(sessionId, after, 1000);
      if (page.some((e) => e.runId === run.id && e.type === type)) return;
      if (page.length < 1000) break;
      after = page.at(-1)!.seq;
    }
    const event: NewEvent =
      run.status === 'completed'
        ? { type: 'run.completed', data: { stopReason: run.stopReason ?? 'end_turn', usage: run.usage } }
        : run.status === 'failed'
          ? { type: 'run.failed', data: { error: run.error ?? { code: 'internal', message: 'run failed' } } }
          : { type: 'run.cancelled', data: {} };
    await this.eventLog.append(sessionId, { ...event, runId: run.id });
  }

  private async lastAssistantText(sessionId: string): Promise<string> {
    const msgs = await this.store.listMessages(sessionId);
    for (let i = msgs.length - 1; i >= 0; i--)
      if (msgs[i]!.role === 'assistant' && msgs[i]!.text) return msgs[i]!.text;
    return '';
  }
}
