// What every part of the Store contract gets: the test's store, a way to open a second
// instance on the same database, and small helpers.
import type { Store, WorkflowRecord } from '../../../src/store/types.ts';
import type { StoreOpenOptions } from '../contract.ts';
import { newRun, newSession, newWorkflow } from '../fixtures/records.ts';

export interface Ctx {
  /** The store of the running test (fresh, empty, migrated database). */
  readonly store: Store;
  /** Another Store instance on the same database (closed after the test). */
  open(options?: StoreOpenOptions): Promise<Store>;
}

export const b64 = (s: string): string => Buffer.from(s).toString('base64url');
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export async function createWf(store: Store, id: string, extra: Partial<WorkflowRecord> = {}) {
  const w = newWorkflow(id, extra);
  return store.createWorkflow(
    w,
    newSession(w.sessionId, { workflowId: w.id }),
    newRun(w.runId, w.sessionId, { workflowId: w.id, priority: 1 }),
  );
}
