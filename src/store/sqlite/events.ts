// Event appends on SQLite, inside a write job (the single-writer transaction): seqs are reserved
// on the session row and the events inserted in the same transaction, so they commit together.
import type { Event } from '../../protocol/index.ts';
import { NotFoundError } from '../errors.ts';
import { toJson } from '../shared/json.ts';
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
