// Executes one claimed run: prepares the workspace, hands the run to its engine, turns the engine's
// output into stored events and messages, and records exactly one terminal outcome — or puts the
// run back in the queue when it was stopped for a drain or a lost lease.
import type { Engine, EngineEvent } from '../agent/engine.ts';
import { EngineError } from '../agent/engine.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { type EngineName, emptyUsage, type Usage } from '../protocol/index.ts';
import { type QuotaExceeded, watchDiskQuota } from '../sandbox/workspace/disk-quota.ts';
import type { RunRecord, SessionRecord, Store } from '../store/types.ts';
import { RunScope } from '../tools/run-scope.ts';
import type { Tool } from '../tools/types.ts';
import type { EventLog } from './event-log.ts';
import type { RunHooks, RunOutcome } from './hooks.ts';
import { OutputBudget } from './output-budget.ts';
import type { WorkspacePreparer } from './workspace-preparer.ts';

export type StopReason = 'cancel' | 'drain' | 'timeout' | 'lease_lost' | 'quota' | undefined;

export interface ExecutorDeps {
  store: Store;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  eventLog: EventLog;
  engines: Partial<Record<EngineName, Engine>>;
  tools: (run: RunRecord, session: SessionRecord) => Tool[];
  workspaces: WorkspacePreparer;
  hooks: RunHooks;
  /** Timestamps of stored messages and the run-duration metric; default the system clock. */
  clock?: Clock;
}

export class RunExecutor {
  private d: ExecutorDeps;
  private clock: Clock;
  constructor(deps: ExecutorDeps) {
    this.d = deps;
    this.clock = deps.clock ?? systemClock;
  }

  async execute(
    run: RunRecord,
    signal: AbortSignal,
    stopReason: () => StopReason,
    stop: (reason: NonNullable<StopReason>) => void = () => {},
  ): Promise<void> {
    const { store, eventLog, config } = this.d;
    const session = await store.getSession(run.sessionId);
    if (!session) {
      await store.finishRun(run.id, { status: 'cancelled', stopReason: 'session_deleted' });
      return;
    }
    const log = this.d.logger.child({ runId: run.id, sessionId: run.sessionId });
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
    const engine = this.d.engines[session.engine];
    await store.updateSession(session.id, { status: 'running' });
    await eventLog.append(session.id, {
      runId: run.id,
      type: 'run.started',
      data: { attempt: run.attempts, engine: session.engine, model: session.model },
    });
    await this.d.hooks.onStarted?.(run);
    this.d.metrics.runsStarted.inc({ engine: session.engine });
    const started = this.clock.now();

    // Streamed tool output is capped per call and per run (what is stored and sent, not the result).
    const budget = new OutputBudget({
      perCallBytes: config.toolStreamLimitBytes,
      perRunBytes: config.runStreamLimitBytes,
    });
    const emit = (ev: EngineEvent) => {
      if (ev.type === 'tool.output') {
        const chunk = budget.admit(ev.data.toolUseId, ev.data.stream, ev.data.chunk);
        if (chunk === undefined) return;
        ev = { type: 'tool.output', data: { ...ev.data, chunk } };
      }
      if (ev.type === 'tool.completed') {
        this.d.metrics.toolCalls.inc({ tool: ev.data.name, outcome: ev.data.isError ? 'error' : 'ok' });
        this.d.metrics.toolDuration.observe(ev.data.durationMs / 1000, { tool: ev.data.name });
        const notice = budget.finish(ev.data.toolUseId);
        if (notice)
          eventLog.emit(session.id, {
            runId: run.id,
            type: 'tool.output',
            data: { toolUseId: ev.data.toolUseId, ...notice },
          });
      }
      eventLog.emit(session.id, { runId: run.id, type: ev.type, data: ev.data as Record<string, unknown> });
    };
    let outcome: RunOutcome;
    let stopQuota = () => {};
    let quotaHit: QuotaExceeded | undefined;
    // Per-run tool resources (the sandboxed fs helper); closed however the run ends.
    const scope = new RunScope();
    try {
      if (!engine)
        throw new EngineError(
          'engine_unavailable',
          `engine "${session.engine}" is not available on this server`,
        );
      const workspace = await this.d.workspaces.prepare(session, signal);
      // The disk quota holds while the run is active: over it, the run's processes are stopped.
      stopQuota = watchDiskQuota(
        workspace.dir,
        config.workspaceQuotaBytes,
        (info) => {
          quotaHit = info;
          stop('quota');
        },
        { intervalMs: config.workspaceQuotaIntervalMs },
      );
      const history = (await store.listMessages(session.id)).filter((m) => m.runId !== run.id);
      const result = await engine.run({
        runId: run.id,
        sessionId: session.id,
        model: session.model,
        systemPrompt: session.systemPrompt,
        history,
        input: run.input,
        workspace: workspace.dir,
        tools: this.d.tools(run, session),
        engineState: session.engineState,
        env: workspace.env,
        signal,
        emit,
        scope,
        stateDir: workspace.stateDir,
        ...(session.repoUrl ? { origin: session.repoUrl } : {}),
      });
      const now = new Date(this.clock.now()).toISOString();
      // The user's message is stored at accept time; keep the engine's record of this run's turns.
      // Queued in one turn so SQLite commits them in one transaction: a crash leaves all or none.
      // An earlier attempt that stored its complete set before dying keeps it (ids would collide).
      // (The user's own message, `<runId>-u`, is stored at accept time and does not count.)
      if (!(await store.listMessages(session.id)).some((m) => m.runId === run.id && m.id !== `${run.id}-u`)) {
        await Promise.all(
          result.messages.flatMap((m, i) =>
            i === 0 && m.role === 'user' && m.text === run.input
              ? []
              : [
                  store.addMessage({
                    id: `${run.id}-${i}`,
                    sessionId: session.id,
                    runId: run.id,
                    role: m.role,
                    text: m.text,
                    content: m.content,
                    createdAt: now,
                  }),
                ],
          ),
        );
      }
      if (result.engineState)
        await store.updateSession(session.id, {
          engineState: { ...session.engineState, ...result.engineState },
        });
      outcome = {
        status: 'completed',
        stopReason: result.stopReason,
        usage: result.usage,
        finalText: result.finalText,
        toolMeta: result.toolMeta,
      };
    } catch (err) {
      const reason = stopReason();
      const usage: Usage = (err instanceof EngineError && err.usage) || emptyUsage();
      if (reason === 'drain' || reason === 'lease_lost') {
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
          await this.d.hooks.onRequeued?.(run, 'drain');
        }
        await this.settleSession(session.id);
        return;
      }
      if (reason === 'cancel') outcome = { status: 'cancelled', usage };
      else if (reason === 'quota')
        outcome = {
          status: 'failed',
          usage,
          error: {
            code: 'disk_quota_exceeded',
            message:
              quotaHit?.reason === 'depth'
                ? 'the workspace nests directories deeper than the server measures (256 levels); its size cannot be checked'
                : `the workspace grew to ${quotaHit?.usedBytes ?? '?'} bytes, over its quota of ${config.workspaceQuotaBytes} bytes`,
          },
        };
      else if (reason === 'timeout')
        outcome = {
          status: 'failed',
          usage,
          error: { code: 'timeout', message: 'the run exceeded its time limit and was stopped' },
        };
      else if (err instanceof EngineError)
        outcome = { status: 'failed', usage, error: { code: err.code, message: err.message } };
      else {
        log.error('run failed unexpectedly', { err });
        outcome = {
          status: 'failed',
          usage,
          error: { code: 'internal', message: err instanceof Error ? err.message : String(err) },
        };
      }
    } finally {
      stopQuota();
      await scope.close();
    }
    this.d.metrics.runDuration.observe((this.clock.now() - started) / 1000, { engine: session.engine });
    await this.finish(run, session, outcome);
  }

  private async finish(run: RunRecord, session: SessionRecord, outcome: RunOutcome): Promise<void> {
    const { store, eventLog, metrics } = this.d;
    await eventLog.flush(); // every delta of the run is stored before its terminal event
    if (outcome.status === 'completed') {
      await store.finishRun(run.id, {
        status: 'completed',
        stopReason: outcome.stopReason,
        usage: outcome.usage,
      });
      await eventLog.append(session.id, {
        runId: run.id,
        type: 'run.completed',
        data: { stopReason: outcome.stopReason, usage: outcome.usage },
      });
    } else if (outcome.status === 'failed') {
      await store.finishRun(run.id, { status: 'failed', error: outcome.error, usage: outcome.usage });
      await eventLog.append(session.id, {
        runId: run.id,
        type: 'run.failed',
        data: { error: outcome.error },
      });
    } else {
      await store.finishRun(run.id, { status: 'cancelled', stopReason: 'cancelled', usage: outcome.usage });
      await eventLog.append(session.id, { runId: run.id, type: 'run.cancelled', data: {} });
    }
    if (outcome.usage.inputTokens + outcome.usage.outputTokens > 0) {
      await store.addSessionUsage(session.id, outcome.usage);
      metrics.llmTokens.inc({ direction: 'input' }, outcome.usage.inputTokens);
      metrics.llmTokens.inc({ direction: 'output' }, outcome.usage.outputTokens);
      metrics.llmCostUsd.inc({}, outcome.usage.costUsd);
    }
    metrics.runsFinished.inc({ engine: session.engine, status: outcome.status });
    await this.settleSession(session.id);
    try {
      await this.d.hooks.onFinished?.(run, outcome);
    } catch (err) {
      this.d.logger.error('run hook failed', { runId: run.id, err });
    }
  }

  /** A session is `queued` while it has queued runs, else `idle`. */
  private async settleSession(sessionId: string): Promise<void> {
    const runs = await this.d.store.listRuns(sessionId);
    const status = runs.some((r) => r.status === 'running')
      ? 'running'
      : runs.some((r) => r.status === 'queued')
        ? 'queued'
        : 'idle';
    if (await this.d.store.getSession(sessionId)) await this.d.store.updateSession(sessionId, { status });
  }
}
