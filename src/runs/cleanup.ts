// Periodic removal of the workspaces of finished workflows after a retention time. Never one whose
// run is active; `fs.rm` removes symlinks themselves and never follows them.
import type { Logger } from '../observability/logger.ts';
import type { WorkspaceManager } from '../sandbox/workspace/manager.ts';
import type { Store } from '../store/types.ts';
import type { Scheduler } from './scheduler.ts';

export async function cleanupWorkspaces(o: {
  store: Store;
  workspaces: WorkspaceManager;
  scheduler: Scheduler;
  retentionMs: number;
  logger: Logger;
  now?: number;
}): Promise<string[]> {
  const now = o.now ?? Date.now();
  const removed: string[] = [];
  for (const id of await o.workspaces.list()) {
    const wf = await o.store.getWorkflow(id);
    if (!wf || !['completed', 'failed', 'cancelled'].includes(wf.status)) continue;
    if (!wf.completedAt || now - Date.parse(wf.completedAt) < o.retentionMs) continue;
    if (o.scheduler.isActive(wf.runId)) continue;
    await o.workspaces.remove(id);
    removed.push(id);
    o.logger.info('removed workspace of finished workflow', { workflowId: id });
  }
  return removed;
}
