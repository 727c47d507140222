// Composite state transitions on SQLite, each ONE write job (one transaction, one fsync): a run's
// end with everything that depends on it, and a workflow's status change with its event. See
// RunFinish in ../types.ts for what belongs together and why.
import type { Event } from '../../protocol/index.ts';
import {
  insertSql,
  messageInsert,
  outboxInsert,
  updateSql,
  values,
  workflowPatch,
} from '../shared/columns.ts';
import { toJson } from '../shared/json.ts';
import { finishValues } from '../shared/runs.ts';
import {
  type RunFinish,
  type RunFinished,
  TERMINAL_WORKFLOW_STATUSES,
  type WorkflowTransition,
} from '../types.ts';
import type { SqliteDb } from './db.ts';
import { appendNotified, encodeEvents } from './events.ts';

const q = (): string => '?';

/** One terminal callback per workflow (the partial unique index of migration 004). */
export const RESULT_CONFLICT = "ON CONFLICT (workflow_id) WHERE kind = 'result' DO NOTHING";

/** `(?, ?, …)` for a list. */
const list = (n: number): string => `(${Array.from({ length: n }, () => '?').join(', ')})`;

/** The workflow's status change and its event; false when `from` did not match. */
function transition(db: SqliteDb, t: WorkflowTransition, encoded: string, ts: string, out: Event[]): boolean {
  const a = workflowPatch(t.patch);
  const from = t.from ?? null;
  const where = from
    ? `status IN ${list(from.length)}`
    : `status NOT IN ${list(TERMINAL_WORKFLOW_STATUSES.length)}`;
  const n = db.run(
    `${updateSql('workflows', a, q)} AND ${where}`,
    ...values(a),
    t.id,
    ...(from ?? TERMINAL_WORKFLOW_STATUSES),
  );
  if (n === 0) return false;
  const sessionId = db.get('SELECT session_id FROM workflows WHERE id = ?', t.id)?.session_id as string;
  out.push(...appendNotified(db, sessionId, [t.event], [encoded], ts).events);
  return true;
}

export function finishRun(db: SqliteDb, f: RunFinish, now: string): Promise<RunFinished> {
  const runEvent = encodeEvents([f.event])[0]!;
  const wfEvent = f.workflow ? encodeEvents([f.workflow.event])[0]! : '';
  const state = f.engineState ? toJson(f.engineState) : null;
  const from = f.from ?? ['queued', 'running'];
  return db.write(() => {
    const run = db.get(
      `UPDATE runs SET status = ?, completed_at = ?, stop_reason = ?, error = ?, lease_expires_at = NULL,
              input_tokens = COALESCE(?, input_tokens), output_tokens = COALESCE(?, output_tokens),
              cost_usd = COALESCE(?, cost_usd)
        WHERE id = ? AND status IN ${list(from.length)} RETURNING session_id`,
      ...finishValues(f, now),
      f.runId,
      ...from,
    );
    if (!run) return { finished: false, events: [], outboxQueued: false };
    const sessionId = run.session_id as string;
    db.run(
      'UPDATE sessions SET running_run_id = NULL WHERE id = ? AND running_run_id = ?',
      sessionId,
      f.runId,
    );
    for (const m of f.messages ?? []) {
      const a = messageInsert(m);
      db.run(`${insertSql('messages', a, q)} ON CONFLICT (id) DO NOTHING`, ...values(a));
    }
    db.run(
      `UPDATE sessions SET
          status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE session_id = ? AND status = 'queued')
                        THEN 'queued' ELSE 'idle' END,
          input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, cost_usd = cost_usd + ?,
          engine_state = CASE WHEN ? IS NULL THEN engine_state ELSE json_patch(engine_state, ?) END,
          updated_at = ?
        WHERE id = ?`,
      sessionId,
      f.usage.inputTokens,
      f.usage.outputTokens,
      f.usage.costUsd,
      state,
      state,
      now,
      sessionId,
    );
    const events = appendNotified(db, sessionId, [f.event], [runEvent], now).events;
    let outboxQueued = false;
    if (f.workflow && transition(db, f.workflow, wfEvent, now, events) && f.workflow.outbox) {
      const a = outboxInsert(f.workflow.outbox);
      outboxQueued = db.run(`${insertSql('outbox', a, q)} ${RESULT_CONFLICT}`, ...values(a)) > 0;
    }
    return { finished: true, events, outboxQueued };
  });
}

export function transitionWorkflow(db: SqliteDb, t: WorkflowTransition, now: string): Promise<Event | null> {
  const encoded = encodeEvents([t.event])[0]!;
  return db.write(() => {
    const out: Event[] = [];
    return transition(db, t, encoded, now, out) ? (out[0] ?? null) : null;
  });
}
