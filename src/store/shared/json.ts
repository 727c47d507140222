// JSON encoding for stored documents. PostgreSQL's JSONB rejects "\u0000" and unpaired
// surrogate escapes, which tool output can contain; both dialects replace them with U+FFFD
// so the same data round-trips identically everywhere.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const SUSPICIOUS = /\\u0000|\\ud[89a-f]/i;

function clean(_key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value.replaceAll('\0', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

/** JSON.stringify that never produces text PostgreSQL JSONB refuses. */
export function toJson(value: unknown): string {
  const s = JSON.stringify(value ?? null);
  if (s === undefined) return 'null';
  return SUSPICIOUS.test(s) ? JSON.stringify(value, clean) : s;
}

/** Text safe for a PostgreSQL TEXT column (no NUL bytes, no lone surrogates). */
export function cleanText(s: string): string {
  return s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}
