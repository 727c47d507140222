// Workflows (docs/api.md §6): durable background tasks from Tier 1. A workflow owns one session (same
// id, so its workspace is DATA_DIR/workspaces/<workflow id>) and one run in the shared queue.
//
// Its status follows its run, and each step is one store transaction with its `workflow.status`
// event: created (with its session, run and first events), `running` / `pending` when the lifecycle
// bus says the run started / was re-queued, and terminal — with its result and its callback in the
// outbox — in the same transaction as the run's end (`terminalTransition`, called by the executor).
// So no crash leaves a finished run under a workflow that is not, or a workflow without its callback.
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AppError, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Logger } from '../observability/logger.ts';
import { traceIdOf } from '../observability/tracing.ts';
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
  type Page,
  PRIORITY_RANK,
  type RunFinish,
  type RunRecord,
  type Store,
  TERMINAL_WORKFLOW_STATUSES,
  type WorkflowRecord,
} from '../store/types.ts';
import { type Actor, audited } from './actions.ts';
import type { EventLog } from './event-log.ts';
import type { Lifecycle, RunOutcome } from './lifecycle.ts';
import { assertCallbackUrl, assertNotify, assertRepoUrl } from './request-checks.ts';
import { endRun } from './run-end.ts';
import { workflowSystemPrompt } from './workflow-prompts.ts';
import { gitFacts, pullRequestUrl, pushedBranch } from './workflow-results.ts';
import { toWorkflow } from './workflow-view.ts';

const isTerminal = (s: WorkflowStatus): boolean => TERMINAL_WORKFLOW_STATUSES.includes(s);

export class WorkflowService {
  private store: Store;
  private config: Config;
  private logger: Logger;
  private eventLog: EventLog;
  private lifecycle: Lifecycle;
  private workspaces: WorkspaceManager;
  private sandbox: SandboxWrapper;
  private clock: Clock;

  constructor(opts: {
    store: Store;
    config: Config;
    logger: Logger;
    eventLog: EventLog;
    lifecycle: Lifecycle;
    workspaces: WorkspaceManager;
    sandbox: SandboxWrapper;
    /** Creation, start and completion times, and the timeout's start; default the system clock. */
    clock?: Clock;
  }) {
    this.store = opts.store;
    this.config = opts.config;
    this.logger = opts.logger.child({ component: 'workflows' });
    this.eventLog = opts.eventLog;
    this.lifecycle = opts.lifecycle;
    this.workspaces = opts.workspaces;
    this.sandbox = opts.sandbox;
    this.clock = opts.clock ?? systemClock;
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /** A workflow follows its run: `running` when it starts, `pending` when it is re-queued. */
  listen(): Array<() => void> {
    return [
      this.lifecycle.on('run.started', ({ run }) =>
        this.follow(run, (w) => ({
          status: 'running',
          attempts: run.attempts,
          startedAt: w.startedAt ?? run.startedAt ?? this.iso(),
        })),
      ),
      this.lifecycle.on('run.requeued', ({ run }) => this.follow(run, () => ({ status: 'pending' }))),
    ];
  }

  private async follow(
    run: RunRecord,
    patch: (w: WorkflowRecord) => Partial<WorkflowRecord> & { status: WorkflowStatus },
  ): Promise<void> {
    if (!run.workflowId) return;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w || isTerminal(w.status)) return;
    const p = patch(w);
    const event = await this.store.transitionWorkflow({
      id: w.id,
      patch: p,
      event: { runId: run.id, type: 'workflow.status', data: { status: p.status, workflowId: w.id } },
    });
    if (!event) return;
    this.eventLog.publish([event]);
    this.logger.info('workflow status', {
      workflowId: w.id,
      runId: run.id,
      status: p.status,
      from: w.status,
    });
  }

  create(req: CreateWorkflowRequest, actor: Actor): Promise<{ workflow: Workflow; created: boolean }> {
    return audited(
      this.lifecycle,
      actor,
      'workflow.create',
      undefined,
      () => this.createWorkflow(req, actor),
      (r) => ({
        target: r.workflow.id,
        details: { created: r.created, type: r.workflow.type, sessionId: r.workflow.sessionId },
      }),
    );
  }

  private async createWorkflow(
    req: CreateWorkflowRequest,
    actor: Actor,
  ): Promise<{ workflow: Workflow; created: boolean }> {
    assertRepoUrl(this.config, req.repoUrl);
    if (req.callbackUrl) assertCallbackUrl(this.config, req.callbackUrl);
    assertNotify(req.notify, req.callbackUrl);
    const id = newId('wf');
    const now = this.iso();
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
      ...(req.policy ? { policy: req.policy } : {}),
      ...(req.notify?.length ? { notify: req.notify } : {}),
      credential: actor.id,
    };
    const first: NewEvent[] = [
      { runId: rec.runId, type: 'message.user', data: { text: req.instructions } },
      { runId: rec.runId, type: 'workflow.status', data: { status: 'pending', workflowId: id } },
      { runId: rec.runId, type: 'run.queued', data: { attempt: 1 } },
    ];
    const { workflow, created, events } = await this.store.createWorkflow(
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
        ...(req.policy ? { policy: req.policy } : {}),
        credential: actor.id,
      },
      {
        id: rec.runId,
        sessionId: id,
        workflowId: id,
        input: req.instructions,
        priority: PRIORITY_RANK[priority],
        ...(actor.traceParent ? { traceParent: actor.traceParent } : {}),
        credential: actor.id,
      },
      first,
    );
    if (!created) {
      // A known idempotency key: nothing was stored; answer with the workflow as it is now.
      return { workflow: toWorkflow(workflow, await this.store.getOutboxForWorkflow(workflow.id)), created };
    }
    this.eventLog.publish(events);
    this.logger.info('workflow created', {
      workflowId: id,
      runId: rec.runId,
      type: rec.type,
      priority,
      credential: actor.id,
      ...(actor.requestId ? { requestId: actor.requestId } : {}),
      ...(actor.traceParent ? { traceId: traceIdOf(actor.traceParent) } : {}),
    });
    await this.lifecycle.emit('run.queued', { sessionId: id, runId: rec.runId, workflowId: id });
    return { workflow: toWorkflow(workflow), created }; // a new workflow has no callback state yet
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
  cancel(id: string, actor: Actor): Promise<Workflow> {
    return audited(this.lifecycle, actor, 'workflow.cancel', id, () => this.cancelWorkflow(id));
  }

  private async cancelWorkflow(id: string): Promise<Workflow> {
    const w = await this.store.getWorkflow(id);
    if (!w) throw notFound('workflow', id);
    if (isTerminal(w.status)) throw new AppError('conflict', `workflow ${id} is already ${w.status}`);
    // The flag first: an instance that claims the run from now on finds it and does not start it.
    await this.store.requestCancel(w.runId);
    const run = await this.store.getRun(w.runId);
    const outcome: RunOutcome = { status: 'cancelled', usage: emptyUsage() };
    const ended =
      run?.status === 'queued' &&
      (await endRun(
        { store: this.store, eventLog: this.eventLog, lifecycle: this.lifecycle },
        {
          run,
          engine: w.engine ?? this.config.engine,
          outcome,
          from: ['queued'],
          cancelReason: 'cancelled while pending',
          workflow: await this.terminalTransition(run, outcome),
        },
      ));
    // Claimed meanwhile, or running: the instance running it stops it and records the end.
    if (!ended) await this.lifecycle.emit('run.stop', { runId: w.runId, reason: 'cancel' });
    return this.get(id);
  }

  /** Deadline of a workflow run: `timeoutMs` after its first start (re-runs do not get a fresh budget). */
  async timeoutFor(run: RunRecord): Promise<number | undefined> {
    if (!run.workflowId) return undefined;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w) return undefined;
    const started = run.startedAt ? Date.parse(run.startedAt) : this.clock.now();
    return started + w.timeoutMs;
  }

  /**
   * The workflow's terminal status, result (from git, not the model's word) and callback for its
   * run's outcome — committed by the store together with the run's end. Undefined when the
   * workflow is gone or already terminal (a terminal status is reached once).
   */
  async terminalTransition(run: RunRecord, outcome: RunOutcome): Promise<RunFinish['workflow']> {
    if (!run.workflowId) return undefined;
    const w = await this.store.getWorkflow(run.workflowId);
    if (!w || isTerminal(w.status)) return undefined;
    const completedAt = this.iso();
    let attempts = (await this.store.getRun(run.id))?.attempts ?? run.attempts;
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
      const branch = pushedBranch(outcome.toolMeta);
      patch.result = {
        summary: outcome.finalText,
        ...facts,
        ...(pr ? { pullRequestUrl: pr } : {}),
        ...(branch ? { branch } : {}),
      };
    } else if (outcome.status === 'failed') {
      patch.error = outcome.error;
    }
    const event: NewEvent = {
      runId: run.id,
      type: 'workflow.status',
      data: { status: outcome.status, workflowId: w.id },
    };
    if (!w.callbackUrl) return { id: w.id, patch, event };
    return {
      id: w.id,
      patch,
      event,
      // One outbox row per workflow; the body is the terminal Workflow as GET will show it.
      outbox: {
        id: `cb_${w.id}`,
        workflowId: w.id,
        url: w.callbackUrl,
        body: JSON.stringify(toWorkflow({ ...w, ...patch })),
        status: 'pending',
        attempts: 0,
        nextAttemptAt: completedAt,
        createdAt: completedAt,
        // The callback continues the trace of the request that started the workflow.
        ...(run.traceParent ? { traceParent: run.traceParent } : {}),
      },
    };
  }

  /**
   * What a crash can still leave: a run re-queued (its lease expired) whose workflow still says
   * `running`, because the process died between the re-queue and the workflow's transition.
   */
  async recover(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.store.listWorkflows({ status: 'running', limit: 200, cursor });
      for (const w of page.items) {
        const run = await this.store.getRun(w.runId);
        if (run?.status === 'queued') await this.follow(run, () => ({ status: 'pending' }));
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  private async collectGitFacts(w: WorkflowRecord, baseSha: unknown) {
    if (!w.repoUrl || typeof baseSha !== 'string') return {};
    try {
      const dir = await this.workspaces.workspaceOf(w.sessionId);
      const env = buildChildEnv(this.config, { home: await this.workspaces.homeFor(w.sessionId) });
      return await gitFacts({ config: this.config, sandbox: this.sandbox, workspace: dir, env, baseSha });
    } catch (err) {
      this.logger.warn('could not read git facts of the workspace', { workflowId: w.id, err });
      return {};
    }
  }
}
