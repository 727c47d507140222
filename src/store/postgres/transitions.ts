// Composite state transitions on PostgreSQL, each ONE transaction: a run's end with everything that
// depends on it, and a workflow's status change with its event. See RunFinish in ../types.ts.
// Events go through the same seq reservation as every append (the session row's lock), so their
// seqs stay gap-free even with other instances appending to the session at the same moment.
import type pg from 'pg';
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
import type { NotifyTargets } from '../shared/notify.ts';
import { finishValues } from '../shared/runs.ts';
import {
  type RunFinish,
  type RunFinished,
  TERMINAL_WORKFLOW_STATUSES,
  type WorkflowTransition,
} from '../types.ts';
import { appendNotified } from './events.ts';
import { one, type Queryable, query, transaction } from './pool.ts';

const ph = (i: number): string => `$${i}`;

/** One terminal callback per workflow (the partial unique index of migration 004). */
export const RESULT_CONFLICT = "ON CONFLICT (workflow_id) WHERE kind = 'result' DO NOTHING";

async function transition(
  c: Queryable,
  t: WorkflowTransition,
  ts: string,
  out: Event[],
  targets: NotifyTargets,
): Promise<boolean> {
  const a = workflowPatch(t.patch);
  const statuses = t.from ?? TERMINAL_WORKFLOW_STATUSES;
  const op = t.from ? '= ANY' : '<> ALL';
  const row = await one(
    c,
    `${updateSql('workflows', a, ph)} AND status ${op}(${ph(a.length + 2)}::text[]) RETURNING session_id`,
    [...values(a), t.id, [...statuses]],
  );
  if (!row) return false;
  out.push(...(await appendNotified(c, targets, String(row.session_id), [t.event], ts)).events);
  return true;
}

export function finishRun(
  pool: pg.Pool,
  f: RunFinish,
  now: string,
  targets: NotifyTargets,
): Promise<RunFinished> {
  const from = f.from ?? ['queued', 'running'];
  return transaction(pool, async (c) => {
    const run = await one(
      c,
      `UPDATE runs SET status = $2, completed_at = $3, stop_reason = $4, error = $5::jsonb, lease_expires_at = NULL,
              input_tokens = COALESCE($6::bigint, input_tokens), output_tokens = COALESCE($7::bigint, output_tokens),
              cost_usd = COALESCE($8::double precision, cost_usd)
        WHERE id = $1 AND status = ANY($9::text[]) RETURNING session_id`,
      [f.runId, ...finishValues(f, now), from],
    );
    if (!run) return { finished: false, events: [], outboxQueued: false };
    const sessionId = String(run.session_id);
    for (const m of f.messages ?? []) {
      const a = messageInsert(m);
      await query(c, `${insertSql('messages', a, ph)} ON CONFLICT (id) DO NOTHING`, values(a));
    }
    await query(
      c,
      `UPDATE sessions SET
          running_run_id = CASE WHEN running_run_id = $2 THEN NULL ELSE running_run_id END,
          status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE session_id = $1 AND status = 'queued')
                        THEN 'queued' ELSE 'idle' END,
          input_tokens = input_tokens + $3, output_tokens = output_tokens + $4, cost_usd = cost_usd + $5,
          engine_state = CASE WHEN $6::jsonb IS NULL THEN engine_state ELSE engine_state || $6::jsonb END,
          updated_at = $7
        WHERE id = $1`,
      [
        sessionId,
        f.runId,
        f.usage.inputTokens,
        f.usage.outputTokens,
        f.usage.costUsd,
        f.engineState ? toJson(f.engineState) : null,
        now,
      ],
    );
    const events = (await appendNotified(c, targets, sessionId, [f.event], now)).events;
    let outboxQueued = false;
    if (f.workflow && (await transition(c, f.workflow, now, events, targets)) && f.workflow.outbox) {
      const a = outboxInsert(f.workflow.outbox);
      const rows = await query(c, `${insertSql('outbox', a, ph)} ${RESULT_CONFLICT} RETURNING id`, values(a));
      outboxQueued = rows.length > 0;
    }
    return { finished: true, events, outboxQueued };
  });
}

export function transitionWorkflow(
  pool: pg.Pool,
  t: WorkflowTransition,
  now: string,
  targets: NotifyTargets,
): Promise<Event | null> {
  return transaction(pool, async (c) => {
    const out: Event[] = [];
    return (await transition(c, t, now, out, targets)) ? (out[0] ?? null) : null;
  });
}
