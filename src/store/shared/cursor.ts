// Opaque pagination cursors: base64url(JSON [sortKey, id]) of the last item of a page.
// Pages are newest first, ordered by (sortKey DESC, id DESC), so a cursor stays valid while
// rows are inserted (they sort before it) or deleted.
import { InvalidCursorError } from '../errors.ts';
import { isCanonicalIso } from './time.ts';

export interface CursorKey<I extends string | number> {
  key: string;
  id: I;
}

export function encodeCursor(key: string, id: string | number): string {
  return Buffer.from(JSON.stringify([key, id]), 'utf8').toString('base64url');
}

function decodeRaw(cursor: string): [string, unknown] {
  if (cursor.length === 0 || cursor.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidCursorError();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new InvalidCursorError();
  const [key, id] = parsed as [unknown, unknown];
  if (typeof key !== 'string' || !isCanonicalIso(key)) throw new InvalidCursorError();
  return [key, id];
}

/** Cursor of a table with text ids (sessions, workflows). */
export function decodeTextCursor(cursor: string): CursorKey<string> {
  const [key, id] = decodeRaw(cursor);
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) throw new InvalidCursorError();
  return { key, id };
}

/** Cursor of a table with integer ids (audit). */
export function decodeIntCursor(cursor: string): CursorKey<number> {
  const [key, id] = decodeRaw(cursor);
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new InvalidCursorError();
  return { key, id };
}
