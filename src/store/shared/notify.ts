// Event notifications of workflows (docs/api.md §10): an event whose type is in its workflow's
// `notify` list is queued in the callback outbox in the same transaction that stores it, so a
// stored event is never without its notification (and never the other way round). Both dialects
// call these from every path that appends events.
import { COALESCIBLE, type Event } from '../../protocol/index.ts';
import type { OutboxRecord } from '../types.ts';
import { toJson } from './json.ts';
import type { Row } from './rows.ts';

/** Where a session's events are notified: its workflow's callbackUrl, for the types it listed. */
export interface NotifyTarget {
  workflowId: string;
  url: string;
  types: ReadonlySet<string>;
}

/** The lookup each dialect runs (one row per existing session). */
export const NOTIFY_TARGET_SQL = (ph: string): string =>
  `SELECT s.workflow_id, w.callback_url, w.notify FROM sessions s LEFT JOIN workflows w ON w.id = s.workflow_id WHERE s.id = ${ph}`;

/**
 * Notify targets by session, cached: a workflow's callbackUrl and notify list are fixed when it is
 * created, and a session never changes its workflow, so an entry never goes stale (a deleted
 * session's entry is never asked for again). Bounded: cleared when it grows past `max`.
 */
export class NotifyTargets {
  readonly #cache = new Map<string, NotifyTarget | null>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  /** undefined: not known yet (look it up); null: the session's events are not notified. */
  get(sessionId: string): NotifyTarget | null | undefined {
    return this.#cache.get(sessionId);
  }

  /** Records the lookup's row (undefined: no such session — nothing is cached). */
  remember(sessionId: string, row: Row | undefined): NotifyTarget | null | undefined {
    if (!row) return undefined;
    const target = targetOf(row);
    if (this.#cache.size >= this.#max) this.#cache.clear();
    this.#cache.set(sessionId, target);
    return target;
  }
}

function targetOf(row: Row): NotifyTarget | null {
  const workflowId = row.workflow_id;
  const url = row.callback_url;
  let types: unknown = row.notify;
  if (typeof types === 'string') types = JSON.parse(types);
  if (typeof workflowId !== 'string' || typeof url !== 'string' || !Array.isArray(types)) return null;
  if (types.length === 0) return null;
  return { workflowId, url, types: new Set(types.filter((t): t is string => typeof t === 'string')) };
}

/** Whether a batch can need a notification at all: streamed deltas are never notified. */
export function mayNotify(events: ReadonlyArray<{ type: string }>): boolean {
  const deltas: ReadonlySet<string> = COALESCIBLE;
  return events.some((e) => !deltas.has(e.type));
}

/** The outbox rows of the events `target` asks for, in seq order. */
export function notificationRows(
  target: NotifyTarget,
  events: readonly Event[],
  now: string,
): OutboxRecord[] {
  return events
    .filter((e) => target.types.has(e.type))
    .map((event) => ({
      // One row per event: queueing it again (the same event) changes nothing.
      id: `ev_${target.workflowId}_${event.seq}`,
      workflowId: target.workflowId,
      kind: 'event' as const,
      url: target.url,
      body: toJson({ kind: 'event', workflowId: target.workflowId, event }),
      status: 'pending' as const,
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
    }));
}
