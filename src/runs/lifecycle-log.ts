// One log line per run and workflow state change, from the lifecycle bus (after it is stored):
// queued, started, finished (with how), re-queued, stop requested, workflow finished, callback
// queued. Each line names what it concerns (`runId`, `sessionId`, `workflowId`) and the trace the
// run belongs to (`traceId`), so a grep for one id follows it from request to callback.
import type { Logger } from '../observability/logger.ts';
import { traceIdOf } from '../observability/tracing.ts';
import type { RunRecord } from '../store/types.ts';
import type { Lifecycle } from './lifecycle.ts';

function runFields(run: RunRecord): Record<string, unknown> {
  return {
    runId: run.id,
    sessionId: run.sessionId,
    ...(run.workflowId ? { workflowId: run.workflowId } : {}),
    ...(run.traceParent ? { traceId: traceIdOf(run.traceParent) } : {}),
  };
}

export function logLifecycle(lifecycle: Lifecycle, logger: Logger): Array<() => void> {
  const log = logger.child({ component: 'runs' });
  return [
    lifecycle.on('run.queued', ({ runId, sessionId, workflowId }) =>
      log.info('run queued', { runId, sessionId, ...(workflowId ? { workflowId } : {}) }),
    ),
    lifecycle.on('run.started', ({ run, engine }) =>
      log.info('run started', { ...runFields(run), engine, attempt: run.attempts }),
    ),
    lifecycle.on('run.finished', ({ run, outcome, engine, durationMs, sandbox }) => {
      const fields = {
        ...runFields(run),
        engine,
        status: outcome.status,
        ...(durationMs !== undefined ? { durationMs } : {}),
        usage: outcome.usage,
        ...(outcome.status === 'completed' ? { stopReason: outcome.stopReason } : {}),
        ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
        ...(sandbox ? { sandbox } : {}),
      };
      if (outcome.status === 'failed') log.warn('run finished', fields);
      else log.info('run finished', fields);
    }),
    lifecycle.on('run.requeued', ({ run, reason }) =>
      log.warn('run re-queued', { ...runFields(run), reason }),
    ),
    lifecycle.on('run.stop', ({ runId, reason }) => log.info('run stop requested', { runId, reason })),
    lifecycle.on('workflow.finished', ({ workflowId, status, usage }) =>
      log.info('workflow finished', { workflowId, status, usage }),
    ),
    lifecycle.on('outbox.queued', ({ workflowId }) => log.info('callback queued', { workflowId })),
  ];
}
