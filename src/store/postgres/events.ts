// Event appends on PostgreSQL. Seqs are reserved on the session row (`last_seq`), whose row
// lock serialises concurrent appenders of one session across all instances; the reservation
// and the insert are one statement, so they commit together.
import pg from 'pg';
import type { Event } from '../../protocol/index.ts';
import { NotFoundError } from '../errors.ts';
import { insertSql, outboxInsert, values } from '../shared/columns.ts';
import { toJson } from '../shared/json.ts';
import {
  mayNotify,
  NOTIFY_TARGET_SQL,
  type NotifyTarget,
  type NotifyTargets,
  notificationRows,
} from '../shared/notify.ts';
import { storedEvent } from '../shared/rows.ts';
import { nowIso } from '../shared/time.ts';
import type { NewEvent } from '../types.ts';
import { one, type Queryable, query, transaction } from './pool.ts';

const ph = (i: number): string => `$${i}`;

const APPEND_ONE = `
WITH s AS (UPDATE sessions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
INSERT INTO events (session_id, seq, run_id, type, ts, data)
SELECT $1, s.last_seq, $2, $3, $4, $5::jsonb FROM s
RETURNING seq`;

const APPEND_MANY = `
WITH s AS (UPDATE sessions SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq)
INSERT INTO events (session_id, seq, run_id, type, ts, data)
SELECT $1, s.last_seq - $2 + e.ord, e.doc->>'r', e.doc->>'t', $3, e.doc->'d'
  FROM s, jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(doc, ord)
RETURNING seq`;

// Several sessions at once. Session rows are locked in id order (no deadlock between two
// instances flushing overlapping batches); returns each locked session's seq before the append.
const APPEND_BATCHES = `
WITH input AS (
  SELECT b->>'s' AS session_id, (b->>'n')::bigint AS n, b->'e' AS events
    FROM jsonb_array_elements($1::jsonb) AS x(b)
), locked AS (
  SELECT s.id, s.last_seq FROM sessions s
   WHERE s.id IN (SELECT session_id FROM input)
   ORDER BY s.id
   FOR NO KEY UPDATE
), bumped AS (
  UPDATE sessions SET last_seq = locked.last_seq + input.n
    FROM locked JOIN input ON input.session_id = locked.id
   WHERE sessions.id = locked.id
), inserted AS (
  INSERT INTO events (session_id, seq, run_id, type, ts, data)
  SELECT locked.id, locked.last_seq + e.ord, e.doc->>'r', e.doc->>'t', $2, e.doc->'d'
    FROM locked JOIN input ON input.session_id = locked.id
   CROSS JOIN LATERAL jsonb_array_elements(input.events) WITH ORDINALITY AS e(doc, ord)
)
SELECT id AS session_id, last_seq AS base FROM locked`;

function eventDocs(events: NewEvent[], encoded: string[]): string {
  const docs = events.map(
    (e, i) => `{"r":${JSON.stringify(e.runId ?? null)},"t":${JSON.stringify(e.type)},"d":${encoded[i]}}`,
  );
  return `[${docs.join(',')}]`;
}

/** `ts`: the events' timestamp (the store's clock). */
export async function appendEvents(
  pool: Queryable,
  sessionId: string,
  events: NewEvent[],
  ts: string = nowIso(),
): Promise<Event[]> {
  if (events.length === 0) {
    if (!(await one(pool, 'SELECT 1 AS x FROM sessions WHERE id = $1', [sessionId]))) {
      throw new NotFoundError(`session ${sessionId} not found`);
    }
    return [];
  }
  const encoded = events.map((e) => toJson(e.data ?? {}));
  const rows =
    events.length === 1
      ? await query(pool, APPEND_ONE, [sessionId, events[0]!.runId ?? null, events[0]!.type, ts, encoded[0]!])
      : await query(pool, APPEND_MANY, [sessionId, events.length, ts, eventDocs(events, encoded)]);
  if (rows.length !== events.length) throw new NotFoundError(`session ${sessionId} not found`);
  let first = Number.POSITIVE_INFINITY;
  for (const r of rows) first = Math.min(first, Number(r.seq));
  return events.map((e, i) => storedEvent(first + i, sessionId, e, ts, encoded[i]!));
}

export async function appendEventBatches(
  pool: pg.Pool,
  batches: Array<{ sessionId: string; events: NewEvent[] }>,
  ts: string = nowIso(),
  targets?: NotifyTargets,
): Promise<Event[][]> {
  if (batches.length === 0) return [];
  if (batches.length === 1) {
    const b = batches[0]!;
    return [
      targets
        ? (await appendNotified(pool, targets, b.sessionId, b.events, ts)).events
        : await appendEvents(pool, b.sessionId, b.events, ts),
    ];
  }
  // one entry per session (a session may appear in several batches; its events keep batch order)
  const merged = new Map<string, { events: NewEvent[]; encoded: string[] }>();
  for (const b of batches) {
    let m = merged.get(b.sessionId);
    if (!m) {
      m = { events: [], encoded: [] };
      merged.set(b.sessionId, m);
    }
    for (const e of b.events) {
      m.events.push(e);
      m.encoded.push(toJson(e.data ?? {}));
    }
  }
  const input = [...merged].map(
    ([s, m]) => `{"s":${JSON.stringify(s)},"n":${m.events.length},"e":${eventDocs(m.events, m.encoded)}}`,
  );
  const bases = await transaction(pool, async (c) => {
    const rows = await query(c, APPEND_BATCHES, [`[${input.join(',')}]`, ts]);
    const out = new Map(rows.map((r) => [String(r.session_id), Number(r.base)]));
    for (const s of merged.keys()) if (!out.has(s)) throw new NotFoundError(`session ${s} not found`);
    // the sessions' notifications, in the same transaction
    for (const [s, m] of merged) {
      if (!targets || !mayNotify(m.events)) continue;
      const target = await targetOf(c, targets, s);
      if (!target) continue;
      const stored = m.events.map((e, i) => storedEvent(out.get(s)! + i + 1, s, e, ts, m.encoded[i]!));
      await insertNotifications(c, target, stored, ts);
    }
    return out;
  });
  const offsets = new Map<string, number>();
  return batches.map((b) => {
    const m = merged.get(b.sessionId)!;
    const offset = offsets.get(b.sessionId) ?? 0;
    offsets.set(b.sessionId, offset + b.events.length);
    return b.events.map((e, i) =>
      storedEvent(bases.get(b.sessionId)! + offset + i + 1, b.sessionId, e, ts, m.encoded[offset + i]!),
    );
  });
}

async function targetOf(db: Queryable, targets: NotifyTargets, sessionId: string) {
  const known = targets.get(sessionId);
  if (known !== undefined) return known;
  return targets.remember(sessionId, await one(db, NOTIFY_TARGET_SQL('$1'), [sessionId]));
}

async function insertNotifications(
  c: Queryable,
  target: NotifyTarget,
  events: Event[],
  ts: string,
): Promise<number> {
  let n = 0;
  for (const o of notificationRows(target, events, ts)) {
    const a = outboxInsert(o);
    n += (await query(c, `${insertSql('outbox', a, ph)} ON CONFLICT (id) DO NOTHING RETURNING id`, values(a)))
      .length;
  }
  return n;
}

/**
 * `appendEvents`, plus the outbox notifications of the appended events that their workflow asks
 * for (docs/api.md §10), in the same transaction (one is opened on a pool when notifications are
 * due). Every path that stores events goes through it.
 */
export async function appendNotified(
  db: Queryable,
  targets: NotifyTargets,
  sessionId: string,
  events: NewEvent[],
  ts: string,
): Promise<{ events: Event[]; notified: number }> {
  const target = mayNotify(events) ? await targetOf(db, targets, sessionId) : null;
  if (!target || !events.some((e) => target.types.has(e.type)))
    return { events: await appendEvents(db, sessionId, events, ts), notified: 0 };
  const both = async (c: Queryable) => {
    const stored = await appendEvents(c, sessionId, events, ts);
    return { events: stored, notified: await insertNotifications(c, target, stored, ts) };
  };
  return db instanceof pg.Pool ? transaction(db, both) : both(db);
}
