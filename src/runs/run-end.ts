// A run's end: one store transaction (Store.finishRun — the run, its terminal event, the session,
// the run's turns, a workflow's terminal status and callback), then its events published and its
// consequences announced on the lifecycle bus. Used by the executor (a run that ran) and by
// workflow cancellation (a run that never started).
import type { SandboxUsage } from '../sandbox/usage.ts';
import type { MessageRecord, NewEvent, RunFinish, RunRecord, Store } from '../store/types.ts';
import type { EventLog } from './event-log.ts';
import type { Lifecycle, RunOutcome } from './lifecycle.ts';

export interface RunEnd {
  run: RunRecord;
  engine: string;
  outcome: RunOutcome;
  /** Absent when the run ended without executing. */
  durationMs?: number;
  turns?: MessageRecord[];
  engineState?: Record<string, unknown>;
  workflow?: RunFinish['workflow'];
  /** Only from these run states (default queued or running). */
  from?: RunFinish['from'];
  /** `run.cancelled`'s reason, when there is one worth telling. */
  cancelReason?: string;
  /** What its sandboxed processes used (absent when no cgroup measured them). */
  sandbox?: SandboxUsage;
}

/** Stores the end and announces it; false when the run was not in a state `from` allows. */
export async function endRun(
  d: { store: Store; eventLog: EventLog; lifecycle: Lifecycle },
  e: RunEnd,
): Promise<boolean> {
  const { outcome, run } = e;
  const result = await d.store.finishRun({
    runId: run.id,
    status: outcome.status,
    usage: outcome.usage,
    event: terminalEvent(run.id, outcome, e.cancelReason),
    ...(outcome.status === 'completed' ? { stopReason: outcome.stopReason } : {}),
    ...(outcome.status === 'cancelled' ? { stopReason: 'cancelled' } : {}),
    ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
    ...(e.turns?.length ? { messages: e.turns } : {}),
    ...(e.engineState ? { engineState: e.engineState } : {}),
    ...(e.workflow ? { workflow: e.workflow } : {}),
    ...(e.from ? { from: e.from } : {}),
  });
  d.eventLog.publish(result.events);
  // Someone else ended (or re-queued) the run first; they announce it.
  if (!result.finished) return false;
  await d.lifecycle.emit('run.finished', {
    run,
    outcome,
    engine: e.engine,
    ...(e.durationMs !== undefined ? { durationMs: e.durationMs } : {}),
    ...(e.sandbox ? { sandbox: e.sandbox } : {}),
  });
  const wf = e.workflow;
  if (wf && result.events.some((ev) => ev.type === 'workflow.status')) {
    await d.lifecycle.emit('workflow.finished', {
      workflowId: wf.id,
      status: outcome.status,
      usage: outcome.usage,
    });
    if (result.outboxQueued) await d.lifecycle.emit('outbox.queued', { workflowId: wf.id });
  }
  return true;
}

/** `run.completed` / `run.failed` / `run.cancelled` for an outcome. */
export function terminalEvent(runId: string, outcome: RunOutcome, cancelReason?: string): NewEvent {
  if (outcome.status === 'completed')
    return { runId, type: 'run.completed', data: { stopReason: outcome.stopReason, usage: outcome.usage } };
  if (outcome.status === 'failed') return { runId, type: 'run.failed', data: { error: outcome.error } };
  return { runId, type: 'run.cancelled', data: cancelReason ? { reason: cancelReason } : {} };
}
