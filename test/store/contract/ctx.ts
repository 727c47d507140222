// What every part of the Store contract gets: the test's store, a way to open a second
// instance on the same database, and small helpers.
import { emptyUsage, type RunFailure, type Usage } from '../../../src/protocol/index.ts';
import type { NewEvent, RunFinished, Store, WorkflowRecord } from '../../../src/store/types.ts';
import type { StoreOpenOptions } from '../contract.ts';
import type { StoreLocation } from '../fixtures/location.ts';
import { newRun, newSession, newWorkflow } from '../fixtures/records.ts';

export interface Ctx {
  /** The store of the running test (fresh, empty, migrated database). */
  readonly store: Store;
  /** Where that database is, for another process (the crash tests). */
  readonly location: StoreLocation;
  /** Another Store instance on the same database (closed after the test). */
  open(options?: StoreOpenOptions): Promise<Store>;
}

/** finishRun with its terminal event and nothing else (what most run tests need). */
export function finish(
  store: Store,
  runId: string,
  p: {
    status: 'completed' | 'failed' | 'cancelled';
    stopReason?: string;
    error?: RunFailure;
    usage?: Usage;
  },
): Promise<RunFinished> {
  return store.finishRun({ runId, ...p, usage: p.usage ?? emptyUsage(), event: terminal(runId, p.status) });
}

export const terminal = (runId: string, status: 'completed' | 'failed' | 'cancelled'): NewEvent =>
  status === 'completed'
    ? { runId, type: 'run.completed', data: { stopReason: 'end_turn', usage: emptyUsage() } }
    : status === 'failed'
      ? { runId, type: 'run.failed', data: { error: { code: 'internal', message: 'failed' } } }
      : { runId, type: 'run.cancelled', data: {} };

export const b64 = (s: string): string => Buffer.from(s).toString('base64url');
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export async function createWf(
  store: Store,
  id: string,
  extra: Partial<WorkflowRecord> = {},
  events: NewEvent[] = [],
) {
  const w = newWorkflow(id, extra);
  return store.createWorkflow(
    w,
    newSession(w.sessionId, { workflowId: w.id }),
    newRun(w.runId, w.sessionId, { workflowId: w.id, priority: 1 }),
    events,
  );
}
