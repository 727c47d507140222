// Dialect-free pieces of the run queue: what a failed run insert means, and the values a
// finished run is written with.
import { ConflictError, NotFoundError } from '../errors.ts';
import type { NewRun, RunFinish } from '../types.ts';
import type { Value } from './columns.ts';
import { toJson } from './json.ts';

export type FinishPatch = Pick<RunFinish, 'status' | 'stopReason' | 'error' | 'usage'>;

/** The error to throw for `error`, raised by inserting `r` (a unique index or the session foreign key). */
export function runInsertError(
  r: NewRun,
  error: unknown,
  violation: { unique: boolean; foreignKey: boolean },
): unknown {
  if (violation.unique) {
    return new ConflictError(
      r.idempotencyKey !== undefined
        ? `idempotency key already used in session ${r.sessionId}`
        : `run ${r.id} exists`,
    );
  }
  if (violation.foreignKey) return new NotFoundError(`session ${r.sessionId} not found`);
  return error;
}

/** status, completed_at, stop_reason, error, input_tokens, output_tokens, cost_usd of a finished run. */
export function finishValues(p: FinishPatch, now: string): Value[] {
  return [
    p.status,
    now,
    p.stopReason ?? null,
    p.error === undefined ? null : toJson(p.error),
    p.usage?.inputTokens ?? null,
    p.usage?.outputTokens ?? null,
    p.usage?.costUsd ?? null,
  ];
}
