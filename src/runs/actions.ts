// API actions for the audit log, recorded by the services themselves — so a message sent over HTTP
// and one sent over a WebSocket produce the same record, with the same error code when it fails.
// The record is announced on the lifecycle bus (`action`); the audit log subscribes.
import { AppError } from '../errors.ts';
import type { ActionRecord, Lifecycle } from './lifecycle.ts';

/** Who asked, and through which door: `key:<hash>`, `signed:tier1` or `anonymous`; `http` or `ws`. */
export interface Actor {
  id: string;
  via: 'http' | 'ws';
  /** W3C traceparent of the request (its span): stored with the runs it queues (docs/api.md §11). */
  traceParent?: string;
  /** The HTTP request's id (X-Request-Id), for the log lines of what it did. */
  requestId?: string;
}

/** For services called from inside the server (tests, tools): recorded as `system`. */
export const SYSTEM_ACTOR: Actor = { id: 'system', via: 'http' };

/**
 * Runs `fn` and announces the action it performed: `ok` with `describe(result)`'s target and
 * details, or `error`/`denied` with the error's code and message. The error is rethrown.
 */
export async function audited<T>(
  lifecycle: Lifecycle,
  actor: Actor,
  action: string,
  target: string | undefined,
  fn: () => Promise<T>,
  describe: (result: T) => { target?: string; details?: Record<string, unknown> } = () => ({}),
): Promise<T> {
  const base = { actor: actor.id, action };
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    const e = err instanceof AppError ? err : undefined;
    const record: ActionRecord = {
      ...base,
      ...(target !== undefined ? { target } : {}),
      outcome: e && (e.status === 401 || e.status === 403) ? 'denied' : 'error',
      details: {
        via: actor.via,
        status: e?.status ?? 500,
        error: { code: e?.code ?? 'internal', message: (e?.message ?? 'internal error').slice(0, 300) },
      },
    };
    await lifecycle.emit('action', record);
    throw err;
  }
  const d = describe(result);
  const t = d.target ?? target;
  await lifecycle.emit('action', {
    ...base,
    ...(t !== undefined ? { target: t } : {}),
    outcome: 'ok',
    details: { via: actor.via, ...d.details },
  });
  return result;
}
