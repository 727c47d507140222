// HMAC signing of docs/api.md §3 with Web Crypto (crypto.subtle), so it runs in Cloudflare Workers
// without nodejs_compat. The same scheme as the server's src/security/signing.ts, ported, not shared:
//
//   X-Timestamp: <unix seconds>
//   X-Nonce:     <8–128 chars of [A-Za-z0-9_-]>
//   X-Signature: sha256=<hex HMAC-SHA256(secret, S)>
//   requests (Tier 1 → server):  S = "<timestamp>.<nonce>.<METHOD>.<path+query>.<raw body>"
//   callbacks (server → Tier 1): S = "callback.<timestamp>.<nonce>.POST.<path+query>.<raw body>"
//
// A request string starts with a digit and a callback string with "callback.", so a captured
// callback is never a valid request and the reverse.

export const SIGNATURE_WINDOW_S = 300;
export const NONCE_RE = /^[A-Za-z0-9_-]{8,128}$/;
export const CALLBACK_PREFIX = 'callback.';
const TIMESTAMP_RE = /^\d{1,12}$/;
const SIGNATURE_RE = /^sha256=([0-9a-fA-F]{64})$/;

/** A body exactly as sent: text (UTF-8 encoded) or bytes. */
export type RawBody = string | Uint8Array | ArrayBuffer;

const encoder = new TextEncoder();

// Importing a key costs more than the HMAC itself; a Worker signs with one or two secrets.
const keys = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
    if (keys.size > 16) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

function bytesOf(body: RawBody): Uint8Array<ArrayBuffer> {
  // encode() always returns a fresh ArrayBuffer (some typings say ArrayBufferLike).
  if (typeof body === 'string') return encoder.encode(body) as Uint8Array<ArrayBuffer>;
  // A view is copied: it may sit on a SharedArrayBuffer, which Web Crypto refuses.
  return body instanceof ArrayBuffer ? new Uint8Array(body) : new Uint8Array(body);
}

/** The bytes HMAC covers: `<prefix><timestamp>.<nonce>.<METHOD>.<path+query>.` then the raw body. */
function signedBytes(prefix: string, p: SignatureParts): Uint8Array<ArrayBuffer> {
  const head = bytesOf(`${prefix}${p.timestamp}.${p.nonce}.${p.method.toUpperCase()}.${p.pathWithQuery}.`);
  const body = bytesOf(p.body);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** HMAC-SHA256 of `data` with `secret`, as lowercase hex (also what GitHub webhooks use). */
export async function hmacSha256Hex(secret: string, data: RawBody): Promise<string> {
  return toHex(await crypto.subtle.sign('HMAC', await hmacKey(secret), bytesOf(data)));
}

/**
 * Checks `sha256=<hex>` against HMAC-SHA256(secret, data) with `crypto.subtle.verify`, which compares
 * in constant time (no early exit on the first differing byte).
 */
export async function verifyHmacSha256(secret: string, data: RawBody, signature: string): Promise<boolean> {
  const m = SIGNATURE_RE.exec(signature);
  if (!m) return false;
  return crypto.subtle.verify('HMAC', await hmacKey(secret), fromHex(m[1]!), bytesOf(data));
}

export interface SignatureParts {
  timestamp: string;
  nonce: string;
  method: string;
  /** The URL's path and query exactly as sent, e.g. `/api/workflows?limit=5`. */
  pathWithQuery: string;
  body: RawBody;
}

/** The X-Signature of a request to the server. */
export async function signRequest(secret: string, p: SignatureParts): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, signedBytes('', p))}`;
}

/** The X-Signature of a callback (what the server sends; tests and fake servers use it). */
export async function signCallback(secret: string, p: Omit<SignatureParts, 'method'>): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, signedBytes(CALLBACK_PREFIX, { ...p, method: 'POST' }))}`;
}

/** 16 random bytes as base64url (22 characters of [A-Za-z0-9_-]). */
export function randomNonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let bin = '';
  for (const x of b) bin += String.fromCharCode(x);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export interface SignedHeaders {
  'X-Timestamp': string;
  'X-Nonce': string;
  'X-Signature': string;
}

function pathWithQueryOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** Headers of a signed request to `url` (absolute). */
export async function signedRequestHeaders(
  secret: string,
  method: string,
  url: string,
  body: RawBody,
  nowMs = Date.now(),
  nonce = randomNonce(),
): Promise<SignedHeaders> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = await signRequest(secret, {
    timestamp,
    nonce,
    method,
    pathWithQuery: pathWithQueryOf(url),
    body,
  });
  return { 'X-Timestamp': timestamp, 'X-Nonce': nonce, 'X-Signature': signature };
}

/** Headers of a signed callback POST to `url` (absolute): what the server sends. */
export async function signedCallbackHeaders(
  secret: string,
  url: string,
  body: RawBody,
  nowMs = Date.now(),
  nonce = randomNonce(),
): Promise<SignedHeaders> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = await signCallback(secret, {
    timestamp,
    nonce,
    pathWithQuery: pathWithQueryOf(url),
    body,
  });
  return { 'X-Timestamp': timestamp, 'X-Nonce': nonce, 'X-Signature': signature };
}

export type VerifyFailure = 'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_nonce' | 'bad_signature';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

export interface VerifyParts {
  secret: string;
  timestamp: string | null | undefined;
  nonce: string | null | undefined;
  signature: string | null | undefined;
  /** The method the message arrived with: a callback only verifies as POST. */
  method: string;
  pathWithQuery: string;
  body: RawBody;
  nowMs?: number;
}

async function verifyWith(prefix: string, v: VerifyParts): Promise<VerifyResult> {
  const { timestamp, nonce, signature } = v;
  if (!timestamp || !nonce || !signature) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP_RE.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const now = Math.floor((v.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_WINDOW_S) return { ok: false, reason: 'stale' };
  if (!NONCE_RE.test(nonce)) return { ok: false, reason: 'bad_nonce' };
  const data = signedBytes(prefix, {
    timestamp,
    nonce,
    method: v.method,
    pathWithQuery: v.pathWithQuery,
    body: v.body,
  });
  return (await verifyHmacSha256(v.secret, data, signature))
    ? { ok: true }
    : { ok: false, reason: 'bad_signature' };
}

/** Verifies a signed REQUEST (what the server does); a callback's signature never passes. Replay is the caller's job. */
export function verifyRequestSignature(v: VerifyParts): Promise<VerifyResult> {
  return verifyWith('', v);
}

/** Verifies a CALLBACK's signature; a request's signature never passes. Replay is the caller's job. */
export function verifyCallbackSignature(v: VerifyParts): Promise<VerifyResult> {
  return verifyWith(CALLBACK_PREFIX, v);
}
