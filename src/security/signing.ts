// HMAC request signing shared with Tier 1 (CONTRACT §3): requests to this server and the callbacks
// it sends use the same scheme. This module has no server dependencies so Tier 1 can copy/import it.
//
//   X-Timestamp: <unix seconds>
//   X-Nonce:     <8–128 chars of [A-Za-z0-9_-]>
//   X-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<nonce>.<METHOD>.<path+query>.<raw body>")>
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_WINDOW_S = 300;
export const NONCE_RE = /^[A-Za-z0-9_-]{8,128}$/;
const TIMESTAMP_RE = /^\d{1,12}$/;
const SIGNATURE_RE = /^sha256=[0-9a-f]{64}$/i;

/** The raw body as bytes (exactly as sent) or as a string (UTF-8 encoded). */
export type RawBody = string | Uint8Array;

/** The signed string for a textual body (documentation and tests; `sign` works on bytes). */
export function signaturePayload(
  timestamp: string,
  nonce: string,
  method: string,
  pathWithQuery: string,
  rawBody: string,
): string {
  return `${timestamp}.${nonce}.${method.toUpperCase()}.${pathWithQuery}.${rawBody}`;
}

export function sign(
  secret: string,
  timestamp: string,
  nonce: string,
  method: string,
  pathWithQuery: string,
  rawBody: RawBody,
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.${nonce}.${method.toUpperCase()}.${pathWithQuery}.`);
  mac.update(rawBody);
  return `sha256=${mac.digest('hex')}`;
}

/** Headers for a signed request (used for callbacks; Tier 1 does the same). */
export function signedHeaders(
  secret: string,
  method: string,
  url: string,
  rawBody: RawBody,
  now = Date.now(),
): Record<string, string> {
  const u = new URL(url);
  const timestamp = String(Math.floor(now / 1000));
  const nonce = randomBytes(16).toString('base64url');
  return {
    'X-Timestamp': timestamp,
    'X-Nonce': nonce,
    'X-Signature': sign(secret, timestamp, nonce, method, u.pathname + u.search, rawBody),
  };
}

export type VerifyFailure = 'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_nonce' | 'bad_signature';

/**
 * Verifies a signed request's headers against its method, path+query and raw body. Replay (nonce
 * re-use) is the caller's job, since it needs state.
 */
export function verifySignature(opts: {
  secret: string;
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  method: string;
  pathWithQuery: string;
  rawBody: RawBody;
  nowMs?: number;
}): { ok: true } | { ok: false; reason: VerifyFailure } {
  const { timestamp, nonce, signature } = opts;
  if (!timestamp || !nonce || !signature) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP_RE.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const now = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_WINDOW_S) return { ok: false, reason: 'stale' };
  if (!NONCE_RE.test(nonce)) return { ok: false, reason: 'bad_nonce' };
  if (!SIGNATURE_RE.test(signature)) return { ok: false, reason: 'bad_signature' };
  const expected = Buffer.from(
    sign(opts.secret, timestamp, nonce, opts.method, opts.pathWithQuery, opts.rawBody),
  );
  const given = Buffer.from(`sha256=${signature.slice(7).toLowerCase()}`);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'bad_signature' };
  return { ok: true };
}
