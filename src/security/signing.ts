// HMAC signing shared with Tier 1 (docs/api.md §3). This module has no server dependencies so Tier 1
// can copy/import it. Requests to this server and the callbacks it sends use the same secret and
// headers, but different signed strings, so a captured callback is never a valid request (and a
// captured request is never a valid callback):
//
//   X-Timestamp: <unix seconds>
//   X-Nonce:     <8–128 chars of [A-Za-z0-9_-]>
//   X-Signature: sha256=<hex HMAC-SHA256(secret, S)>
//   requests:   S = "<timestamp>.<nonce>.<METHOD>.<path+query>.<raw body>"
//   callbacks:  S = "callback.<timestamp>.<nonce>.POST.<path+query>.<raw body>"
//
// The two can never coincide: a valid timestamp is digits only, so a request string starts with a
// digit and a callback string with "callback.".
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_WINDOW_S = 300;
export const NONCE_RE = /^[A-Za-z0-9_-]{8,128}$/;
const TIMESTAMP_RE = /^\d{1,12}$/;
const SIGNATURE_RE = /^sha256=[0-9a-f]{64}$/i;

/** The raw body as bytes (exactly as sent) or as a string (UTF-8 encoded). */
export type RawBody = string | Uint8Array;

/** Prefix of the string a callback (or any server-sent notification) is signed over. */
export const CALLBACK_PREFIX = 'callback.';

/** The signed string of a request with a textual body (documentation and tests; `sign` works on bytes). */
export function signaturePayload(
  timestamp: string,
  nonce: string,
  method: string,
  pathWithQuery: string,
  rawBody: string,
): string {
  return `${timestamp}.${nonce}.${method.toUpperCase()}.${pathWithQuery}.${rawBody}`;
}

/** The signed string of a callback with a textual body (documentation and tests). */
export function callbackSignaturePayload(
  timestamp: string,
  nonce: string,
  pathWithQuery: string,
  rawBody: string,
): string {
  return `${CALLBACK_PREFIX}${signaturePayload(timestamp, nonce, 'POST', pathWithQuery, rawBody)}`;
}

function hmac(
  prefix: string,
  secret: string,
  timestamp: string,
  nonce: string,
  method: string,
  pathWithQuery: string,
  rawBody: RawBody,
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${prefix}${timestamp}.${nonce}.${method.toUpperCase()}.${pathWithQuery}.`);
  mac.update(rawBody);
  return `sha256=${mac.digest('hex')}`;
}

/** The X-Signature of a request to this server. */
export function sign(
  secret: string,
  timestamp: string,
  nonce: string,
  method: string,
  pathWithQuery: string,
  rawBody: RawBody,
): string {
  return hmac('', secret, timestamp, nonce, method, pathWithQuery, rawBody);
}

/** The X-Signature of a callback this server sends (always a POST). */
export function signCallback(
  secret: string,
  timestamp: string,
  nonce: string,
  pathWithQuery: string,
  rawBody: RawBody,
): string {
  return hmac(CALLBACK_PREFIX, secret, timestamp, nonce, 'POST', pathWithQuery, rawBody);
}

function headersFor(
  url: string,
  now: number,
  signWith: (ts: string, nonce: string, pathWithQuery: string) => string,
) {
  const u = new URL(url);
  const timestamp = String(Math.floor(now / 1000));
  const nonce = randomBytes(16).toString('base64url');
  return {
    'X-Timestamp': timestamp,
    'X-Nonce': nonce,
    'X-Signature': signWith(timestamp, nonce, u.pathname + u.search),
  };
}

/** Headers for a signed request to this server (what Tier 1 and the client send). */
export function signedHeaders(
  secret: string,
  method: string,
  url: string,
  rawBody: RawBody,
  now = Date.now(),
): Record<string, string> {
  return headersFor(url, now, (ts, nonce, p) => sign(secret, ts, nonce, method, p, rawBody));
}

/** Headers for a callback POST to `url` (what this server sends; never valid as a request). */
export function callbackSignedHeaders(
  secret: string,
  url: string,
  rawBody: RawBody,
  now = Date.now(),
): Record<string, string> {
  return headersFor(url, now, (ts, nonce, p) => signCallback(secret, ts, nonce, p, rawBody));
}

export type VerifyFailure = 'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_nonce' | 'bad_signature';

export interface VerifyOptions {
  secret: string;
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  /** The method the message arrived with (a callback only verifies as POST). */
  method: string;
  pathWithQuery: string;
  rawBody: RawBody;
  nowMs?: number;
}

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/**
 * Verifies a signed REQUEST's headers against its method, path+query and raw body (a callback's
 * signature never passes). Replay (nonce re-use) is the caller's job, since it needs state.
 */
export function verifySignature(opts: VerifyOptions): VerifyResult {
  return verifyWith('', opts);
}

/**
 * Verifies a CALLBACK's headers (what a Tier 1 receiver calls; a request's signature never passes).
 * Replay (nonce re-use) is the caller's job.
 */
export function verifyCallbackSignature(opts: VerifyOptions): VerifyResult {
  return verifyWith(CALLBACK_PREFIX, opts);
}

function verifyWith(prefix: string, opts: VerifyOptions): VerifyResult {
  const { timestamp, nonce, signature } = opts;
  if (!timestamp || !nonce || !signature) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP_RE.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const now = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_WINDOW_S) return { ok: false, reason: 'stale' };
  if (!NONCE_RE.test(nonce)) return { ok: false, reason: 'bad_nonce' };
  if (!SIGNATURE_RE.test(signature)) return { ok: false, reason: 'bad_signature' };
  const expected = Buffer.from(
    hmac(prefix, opts.secret, timestamp, nonce, opts.method, opts.pathWithQuery, opts.rawBody),
  );
  const given = Buffer.from(`sha256=${signature.slice(7).toLowerCase()}`);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'bad_signature' };
  return { ok: true };
}
