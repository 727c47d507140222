// The API's view of a workflow record (docs/api.md §6): what GET returns and what the callback carries.
import type { Workflow } from '../protocol/index.ts';
import type { OutboxRecord, WorkflowRecord } from '../store/types.ts';

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
    ...(w.policy ? { policy: w.policy } : {}),
    ...(w.notify ? { notify: w.notify } : {}),
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
