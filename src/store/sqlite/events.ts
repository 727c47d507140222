// Event appends on SQLite, inside a write job (the single-writer transaction): seqs are reserved
// on the session row and the events inserted in the same transaction, so they commit together.
import type { Event } from '../../protocol/index.ts';
import { NotFoundError } from '../errors.ts';
import { insertSql, outboxInsert, values } from '../shared/columns.ts';
import { toJson } from '../shared/json.ts';
import { mayNotify, NOTIFY_TARGET_SQL, NotifyTargets, notificationRows } from '../shared/notify.ts';
import { storedEvent } from '../shared/rows.ts';
import type { NewEvent } from '../types.ts';
import type { SqliteDb } from './db.ts';

/** Encodes event payloads (outside the write job: JSON work does not hold the writer). */
export function encodeEvents(events: NewEvent[]): string[] {
  return events.map((e) => toJson(e.data ?? {}));
}

/** Reserves `events.length` seqs on the session row and inserts the events. */
export function appendIn(
  db: SqliteDb,
  sessionId: string,
  events: NewEvent[],
  encoded: string[],
  ts: string,
): Event[] {
  const row = db.get(
    'UPDATE sessions SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq',
    events.length,
    sessionId,
  );
  if (!row) throw new NotFoundError(`session ${sessionId} not found`);
  let seq = Number(row.last_seq) - events.length;
  const out: Event[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    seq++;
    db.run(
      'INSERT INTO events (session_id, seq, run_id, type, ts, data) VALUES (?, ?, ?, ?, ?, ?)',
      sessionId,
      seq,
      e.runId ?? null,
      e.type,
      ts,
      encoded[i]!,
    );
    out.push(storedEvent(seq, sessionId, e, ts, encoded[i]!));
  }
  return out;
}

const targets = new WeakMap<SqliteDb, NotifyTargets>();

/**
 * `appendIn`, plus the outbox notifications of the appended events that their workflow asks for
 * (docs/api.md §10), in the same transaction. Every path that stores events goes through it.
 */
export function appendNotified(
  db: SqliteDb,
  sessionId: string,
  events: NewEvent[],
  encoded: string[],
  ts: string,
): { events: Event[]; notified: number } {
  const stored = appendIn(db, sessionId, events, encoded, ts);
  if (!mayNotify(events)) return { events: stored, notified: 0 };
  let cache = targets.get(db);
  if (!cache) {
    cache = new NotifyTargets();
    targets.set(db, cache);
  }
  let target = cache.get(sessionId);
  if (target === undefined) target = cache.remember(sessionId, db.get(NOTIFY_TARGET_SQL('?'), sessionId));
  if (!target) return { events: stored, notified: 0 };
  let notified = 0;
  for (const o of notificationRows(target, stored, ts)) {
    const a = outboxInsert(o);
    notified += db.run(`${insertSql('outbox', a, () => '?')} ON CONFLICT (id) DO NOTHING`, ...values(a));
  }
  return { events: stored, notified };
}
