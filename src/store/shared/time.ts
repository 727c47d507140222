// Timestamps are stored and compared as canonical ISO-8601 UTC strings with millisecond
// precision (`Date#toISOString`), in both dialects, so ordering and cursors agree.
import { InvalidQueryError } from '../errors.ts';

export function nowIso(): string {
  return new Date().toISOString();
}

/** Canonical form of a caller-supplied timestamp; throws InvalidQueryError when unparsable. */
export function toIso(value: string | Date | number): string {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidQueryError(`invalid timestamp: ${String(value)}`);
  return d.toISOString();
}

export function isoAfter(ms: number, from: number = Date.now()): string {
  return new Date(from + ms).toISOString();
}

/** True when `s` is exactly what toIso would produce for it. */
export function isCanonicalIso(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(s)) return false;
  const d = new Date(s);
  return !Number.isNaN(d.getTime()) && d.toISOString() === s;
}
