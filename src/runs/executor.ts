// Executes one claimed run: prepares the workspace, hands the run to its engine, turns the engine's
// output into stored events, and records exactly one terminal outcome — or puts the run back in the
// queue when it was stopped for a drain or a lost lease.
//
// The run's end is ONE store transaction (Store.finishRun): the run row, its terminal event, the
// session's status, usage and engine state, the run's conversation turns and, for a workflow's run,
// the workflow's terminal status, its event and its callback. A crash before it leaves the run
// `running` (its lease expires, it is re-queued and runs again); a crash after it leaves everything
// done. What happened is then announced on the lifecycle bus, never before it is stored.
import type { ConversationTurn, Engine, EngineEvent, SpareTicket } from '../agent/engine.ts';
import { EngineError } from '../agent/engine.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { DEFAULT_APPROVAL_TIMEOUT_MS, type EngineName, emptyUsage, type Usage } from '../protocol/index.ts';
import type { SandboxUsage } from '../sandbox/usage.ts';
import { type QuotaExceeded, watchDiskQuota } from '../sandbox/workspace/disk-quota.ts';
import type { MessageRecord, RunFinish, RunRecord, SessionRecord, Store } from '../store/types.ts';
import { RunScope } from '../tools/run-scope.ts';
import type { Tool } from '../tools/types.ts';
import { RunApprovalGate, type RunSlot } from './approval-gate.ts';
import { type BudgetStop, Budgets, largerUsage, type RunBudget } from './budget.ts';
import { historyBefore } from './conversation-order.ts';
import type { EventLog } from './event-log.ts';
import type { Lifecycle, RunOutcome, StopReason } from './lifecycle.ts';
import { OutputBudget } from './output-budget.ts';
import { endRun } from './run-end.ts';
import { RunQuota } from './run-quota.ts';
import type { RunTelemetry, RunTrace } from './run-telemetry.ts';
import type { WorkspacePreparer } from './workspace-preparer.ts';

export interface ExecutorDeps {
  store: Store;
  config: Config;
  logger: Logger;
  eventLog: EventLog;
  lifecycle: Lifecycle;
  engines: Partial<Record<EngineName, Engine>>;
  tools: (run: RunRecord, session: SessionRecord) => Tool[];
  workspaces: Pick<WorkspacePreparer, 'prepare'>;
  /**
   * For a workflow's run: the workflow's terminal transition (status, result, callback) to commit
   * in the same transaction as the run's end. Undefined when there is nothing to change.
   */
  workflowEnd?: (run: RunRecord, outcome: RunOutcome) => Promise<RunFinish['workflow']>;
  /** Timestamps of stored messages and the run duration; default the system clock. */
  clock?: Clock;
  /** Run, model-call and tool spans and the model-call metrics. */
  telemetry?: RunTelemetry;
  /** What the run's sandboxed processes used (their workspace's cgroup tally), taken at its end. */
  sandboxUsage?: (workspace: string) => SandboxUsage | undefined;
}

export class RunExecutor {
  private d: ExecutorDeps;
  private clock: Clock;
  private budgets: Budgets;
  constructor(deps: ExecutorDeps) {
    this.d = deps;
    this.clock = deps.clock ?? systemClock;
    this.budgets = new Budgets({ store: deps.store, config: deps.config.budgets, clock: this.clock });
  }

  async execute(
    run: RunRecord,
    signal: AbortSignal,
    stopReason: () => StopReason | undefined,
    stop: (reason: StopReason) => void = () => {},
    slot?: RunSlot,
  ): Promise<void> {
    const { store, config } = this.d;
    const session = await store.getSession(run.sessionId);
    // Deleted meanwhile: its runs went with it (ON DELETE CASCADE); nothing is left to record.
    if (!session) return;
    slot?.engine?.(session.engine);
    if (run.cancelRequested) return this.finish(run, session, { status: 'cancelled', usage: emptyUsage() });
    if (run.attempts > config.workflowMaxAttempts) {
      return this.finish(run, session, {
        status: 'failed',
        usage: emptyUsage(),
        error: {
          code: 'max_attempts_exceeded',
          message: `the run was started ${run.attempts - 1} times without finishing (limit ${config.workflowMaxAttempts})`,
        },
      });
    }
    // A budget with nothing left runs nothing: refused before the engine (or a clone) is started.
    const budget = await this.budgets.open(run, session);
    const refused = budget.refusal();
    if (refused) {
      this.budgets.close(budget, emptyUsage());
      return this.finish(run, session, budgetOutcome(refused, emptyUsage()));
    }
    let outcome: RunOutcome | undefined;
    try {
      outcome = await this.executeEngine(run, session, signal, stopReason, stop, budget, slot);
    } finally {
      this.budgets.close(budget, outcome?.usage ?? budget.used);
    }
  }

  /** The run in its engine, from `run.started` to its stored end (or its re-queue: undefined). */
  private async executeEngine(
    run: RunRecord,
    session: SessionRecord,
    signal: AbortSignal,
    stopReason: () => StopReason | undefined,
    stop: (reason: StopReason) => void,
    budget: RunBudget,
    slot: RunSlot | undefined,
  ): Promise<RunOutcome | undefined> {
    const { store, eventLog, config } = this.d;
    const log = this.d.logger.child({ runId: run.id, sessionId: run.sessionId });
    const engine = this.d.engines[session.engine];
    // Passing a limit while usage streams stops the run (within the turn that passed it).
    budget.onExceed(() => stop('budget'));
    // One group commit for both, not one after the other (in a burst, one flush less per round).
    await Promise.all([
      store.updateSession(session.id, { status: 'running' }),
      eventLog.append(session.id, {
        runId: run.id,
        type: 'run.started',
        data: { attempt: run.attempts, engine: session.engine, model: session.model },
      }),
    ]);
    await this.d.lifecycle.emit('run.started', { run, engine: session.engine });
    const started = this.clock.now();
    const trace = this.d.telemetry?.begin(run, { engine: session.engine, model: session.model });
    const runLog = trace?.traceId ? log.child({ traceId: trace.traceId }) : log;

    const emit = this.engineEmitter(run, session, trace);
    let outcome: RunOutcome;
    let turns: MessageRecord[] = [];
    let engineState: Record<string, unknown> | undefined;
    let stopQuota = () => {};
    let quotaHit: QuotaExceeded | undefined;
    let workspaceDir: string | undefined;
    let spare: SpareTicket | undefined;
    // Per-run tool resources (the sandboxed fs helper); closed however the run ends.
    const scope = new RunScope();
    try {
      if (!engine)
        throw new EngineError(
          'engine_unavailable',
          `engine "${session.engine}" is not available on this server`,
        );
      // A new session's first run may get a warm process of its engine, whose slot becomes the
      // session's workspace (src/agent/claude-code/spares.ts).
      const takeSpare = engine.takeSpare?.bind(engine);
      const workspace = await this.d.workspaces.prepare(
        session,
        signal,
        takeSpare
          ? {
              takeSpare: () =>
                takeSpare({
                  sessionId: session.id,
                  model: session.model,
                  repo: session.repoUrl !== undefined && session.repoUrl !== '',
                  ...(session.systemPrompt ? { systemPrompt: session.systemPrompt } : {}),
                }),
            }
          : {},
      );
      workspaceDir = workspace.dir;
      spare = workspace.spare;
      // The disk quota holds while the run is active: over it, the run's processes are stopped.
      // (Paused while a native run waits for people with no tool executing: see run-quota.ts.)
      const quota = new RunQuota(
        () =>
          watchDiskQuota(
            workspace.dir,
            config.workspaceQuotaBytes,
            (info) => {
              quotaHit = info;
              runLog.warn('disk quota exceeded: stopping the run', {
                usedBytes: info.usedBytes,
                limitBytes: info.limitBytes,
                reason: info.reason,
              });
              stop('quota');
            },
            { intervalMs: config.workspaceQuotaIntervalMs },
          ),
        { pausable: session.engine === 'native' },
      );
      quota.start();
      stopQuota = () => quota.close();
      const history = historyBefore(
        await store.listMessages(session.id),
        await store.listRuns(session.id),
        run.id,
      );
      const approvals = this.approvalGate(run, session, signal, stopReason, parkingSlot(slot, quota));
      await approvals?.open();
      const result = await engine
        .run({
          runId: run.id,
          sessionId: session.id,
          model: session.model,
          systemPrompt: session.systemPrompt,
          history,
          input: run.input,
          workspace: workspace.dir,
          tools: this.d.tools(run, session).map((t) => quota.wrap(t)),
          engineState: session.engineState,
          env: workspace.env,
          signal,
          emit,
          meter: budget,
          scope,
          stateDir: workspace.stateDir,
          ...(trace ? { observer: trace.observer } : {}),
          ...(session.repoUrl ? { origin: session.repoUrl } : {}),
          ...(approvals ? { approvals } : {}),
          ...(spare ? { spare } : {}),
        })
        // No approval outlives the engine's run: what still waits is denied before the run ends or is re-queued.
        .finally(() => approvals?.close());
      turns = this.turnRecords(run, result.messages);
      engineState = result.engineState;
      outcome = {
        status: 'completed',
        stopReason: result.stopReason,
        // The engine's figure, or the streamed one when that saw more (Claude Code's own total
        // can miss requests the proxy metered).
        usage: largerUsage(result.usage, budget.used),
        finalText: result.finalText,
        toolMeta: result.toolMeta,
      };
    } catch (err) {
      const reason = stopReason();
      const usage = largerUsage((err instanceof EngineError && err.usage) || emptyUsage(), budget.used);
      if (reason === 'drain' || reason === 'lease_lost') {
        trace?.end({ status: 'requeued', reason });
        await this.putBack(run, session, reason);
        return undefined;
      }
      outcome = failureOutcome(reason, err, usage, {
        quotaHit,
        quotaBytes: config.workspaceQuotaBytes,
        budgetStop: budget.stopped,
      });
      // An interrupted run keeps what it produced in the history (the next message follows it).
      if (outcome.status === 'cancelled' && err instanceof EngineError && err.messages)
        turns = this.turnRecords(run, err.messages);
      if (outcome.status === 'failed' && outcome.error.code === 'internal')
        runLog.error('run failed unexpectedly', { err });
    } finally {
      spare?.close(); // a no-op once the engine claimed it
      stopQuota();
      await scope.close();
    }
    const sandbox = workspaceDir === undefined ? undefined : this.d.sandboxUsage?.(workspaceDir);
    trace?.end(outcome);
    await this.finish(run, session, outcome, {
      turns,
      engineState,
      durationMs: this.clock.now() - started,
      ...(sandbox ? { sandbox } : {}),
    });
    return outcome;
  }

  /** The run's approval gate, when the session's policy names tool calls that need a decision. */
  private approvalGate(
    run: RunRecord,
    session: SessionRecord,
    signal: AbortSignal,
    stopReason: () => StopReason | undefined,
    slot: RunSlot | undefined,
  ): RunApprovalGate | undefined {
    const rules = session.policy?.approve ?? [];
    if (rules.length === 0) return undefined;
    const { store, eventLog, lifecycle, logger } = this.d;
    return new RunApprovalGate(
      { store, eventLog, lifecycle, logger, clock: this.clock },
      {
        run,
        session,
        rules,
        timeoutMs: session.policy?.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS,
        signal,
        stopReason,
        ...(slot ? { slot } : {}),
      },
    );
  }

  /**
   * The engine's turns as the session's message records. The user's message is stored at accept
   * time (`<runId>-u`); the run's other turns are stored with the run's end.
   */
  private turnRecords(run: RunRecord, messages: ConversationTurn[]): MessageRecord[] {
    const at = new Date(this.clock.now()).toISOString();
    return messages.flatMap((m, i) =>
      i === 0 && m.role === 'user' && m.text === run.input
        ? []
        : [
            {
              id: `${run.id}-${i}`,
              sessionId: run.sessionId,
              runId: run.id,
              role: m.role,
              text: m.text,
              content: m.content,
              createdAt: at,
            },
          ],
    );
  }

  /** The engine's events, with streamed tool output capped per call and per run (what is stored and sent). */
  private engineEmitter(
    run: RunRecord,
    session: SessionRecord,
    trace: RunTrace | undefined,
  ): (ev: EngineEvent) => void {
    const { eventLog, config, lifecycle } = this.d;
    const budget = new OutputBudget({
      perCallBytes: config.toolStreamLimitBytes,
      perRunBytes: config.runStreamLimitBytes,
    });
    return (ev) => {
      trace?.onEvent(ev);
      if (ev.type === 'tool.output') {
        const chunk = budget.admit(ev.data.toolUseId, ev.data.stream, ev.data.chunk);
        if (chunk === undefined) return;
        ev = { type: 'tool.output', data: { ...ev.data, chunk } };
      }
      if (ev.type === 'tool.completed') {
        void lifecycle.emit('tool.completed', {
          runId: run.id,
          tool: ev.data.name,
          isError: ev.data.isError,
          durationMs: ev.data.durationMs,
        });
        const notice = budget.finish(ev.data.toolUseId);
        if (notice)
          eventLog.emit(session.id, {
            runId: run.id,
            type: 'tool.output',
            data: { toolUseId: ev.data.toolUseId, ...notice },
          });
      }
      eventLog.emit(session.id, { ...ev, runId: run.id });
    };
  }

  /** Drain: back in the queue, told to the session. Lease lost: another worker owns it now. */
  private async putBack(
    run: RunRecord,
    session: SessionRecord,
    reason: 'drain' | 'lease_lost',
  ): Promise<void> {
    const { store, eventLog } = this.d;
    await eventLog.flush();
    if (reason === 'drain') {
      await store.requeueRun(run.id);
      await eventLog.append(session.id, {
        runId: run.id,
        type: 'run.queued',
        data: { attempt: run.attempts + 1, reason: 'drain' },
      });
      await eventLog.append(session.id, {
        runId: run.id,
        type: 'session.notice',
        data: { message: 'run interrupted by a server shutdown; it is queued again and will restart' },
      });
      await this.d.lifecycle.emit('run.requeued', { run, reason: 'drain' });
    }
    // A session is `queued` while it has queued runs, else `idle` (the new owner marks it running).
    const runs = await store.listRuns(session.id);
    const status = runs.some((r) => r.status === 'running')
      ? 'running'
      : runs.some((r) => r.status === 'queued')
        ? 'queued'
        : 'idle';
    if (await store.getSession(session.id)) await store.updateSession(session.id, { status });
  }

  private async finish(
    run: RunRecord,
    session: SessionRecord,
    outcome: RunOutcome,
    done: {
      turns?: MessageRecord[];
      engineState?: Record<string, unknown>;
      durationMs?: number;
      sandbox?: SandboxUsage;
    } = {},
  ): Promise<void> {
    await this.d.eventLog.flush(); // every delta of the run is stored (and published) before its end
    const workflow = run.workflowId ? await this.d.workflowEnd?.(run, outcome) : undefined;
    await endRun(this.d, {
      run,
      engine: session.engine,
      outcome,
      ...done,
      ...(workflow ? { workflow } : {}),
    });
  }
}

/** The scheduler's slot, with the run's quota watch paused while the run is parked. */
function parkingSlot(slot: RunSlot | undefined, quota: RunQuota): RunSlot {
  return {
    park: () => {
      slot?.park();
      quota.park();
    },
    resume: async (signal) => {
      quota.unpark();
      await slot?.resume(signal);
    },
  };
}

/** A run stopped (or refused) by a budget: `budget_exceeded`, with the run's usage so far. */
function budgetOutcome(stop: BudgetStop, usage: Usage): RunOutcome {
  return { status: 'failed', usage, error: { code: 'budget_exceeded', message: stop.message, usage } };
}

/** Why an engine's run ended early, as an outcome. */
function failureOutcome(
  reason: StopReason | undefined,
  err: unknown,
  usage: Usage,
  why: { quotaHit?: QuotaExceeded; quotaBytes: number; budgetStop?: BudgetStop },
): RunOutcome {
  const { quotaHit, quotaBytes } = why;
  if (reason === 'cancel') return { status: 'cancelled', usage };
  if (reason === 'budget' && why.budgetStop) return budgetOutcome(why.budgetStop, usage);
  if (reason === 'quota')
    return {
      status: 'failed',
      usage,
      error: {
        code: 'disk_quota_exceeded',
        message:
          quotaHit?.reason === 'depth'
            ? 'the workspace nests directories deeper than the server measures (256 levels); its size cannot be checked'
            : `the workspace grew to ${quotaHit?.usedBytes ?? '?'} bytes, over its quota of ${quotaBytes} bytes`,
      },
    };
  if (reason === 'timeout')
    return {
      status: 'failed',
      usage,
      error: { code: 'timeout', message: 'the run exceeded its time limit and was stopped' },
    };
  if (err instanceof EngineError)
    return {
      status: 'failed',
      usage,
      error: { code: err.code, message: err.message, ...(err.code === 'budget_exceeded' ? { usage } : {}) },
    };
  return {
    status: 'failed',
    usage,
    error: { code: 'internal', message: err instanceof Error ? err.message : String(err) },
  };
}
