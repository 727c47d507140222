// Verifies a callback this server sent (docs/api.md §3 and §6), for Tier 1 receivers: the HMAC
// signature over "callback.<timestamp>.<nonce>.POST.<path+query>.<raw body>", the ±300 s window
// and, with a nonce store, replay. A signed request (to this server) never verifies as a callback.
// Depends only on ../security/signing.ts (no server code), so it can be copied.
import { SIGNATURE_WINDOW_S, type VerifyFailure, verifyCallbackSignature } from '../security/signing.ts';

/** Remembers accepted nonces; `accept` returns false when the nonce was seen within `ttlMs`. */
export interface NonceStore {
  accept(nonce: string, ttlMs: number, nowMs: number): boolean | Promise<boolean>;
}

/** In-memory nonce store (one process). Use a shared store (KV, Redis) across instances. */
export class MemoryNonceStore implements NonceStore {
  private seen = new Map<string, number>();
  accept(nonce: string, ttlMs: number, nowMs: number): boolean {
    for (const [k, exp] of this.seen) {
      if (exp > nowMs) break;
      this.seen.delete(k);
    }
    const exp = this.seen.get(nonce);
    if (exp !== undefined && exp > nowMs) return false;
    this.seen.set(nonce, nowMs + ttlMs);
    return true;
  }
}

export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

export interface VerifyCallbackOptions {
  secret: string;
  method: string;
  /** The request URL as received: absolute (`https://host/cb?x=1`) or path and query (`/cb?x=1`). */
  url: string;
  headers: HeaderSource;
  /** The body exactly as received (bytes or UTF-8 text), before any JSON parsing. */
  rawBody: string | Uint8Array;
  nowMs?: number;
  /** Replay protection: without it, a captured callback could be replayed within the window. */
  nonces?: NonceStore;
}

export type VerifyCallbackResult =
  | { ok: true; deliveryId?: string }
  | { ok: false; reason: VerifyFailure | 'replay' };

function header(h: HeaderSource, name: string): string | undefined {
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? undefined;
  const rec = h as Record<string, string | string[] | undefined>;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : rec[key];
  return Array.isArray(v) ? v[0] : v;
}

export async function verifyCallback(o: VerifyCallbackOptions): Promise<VerifyCallbackResult> {
  const u = new URL(o.url, 'http://callback.invalid');
  const nowMs = o.nowMs ?? Date.now();
  const nonce = header(o.headers, 'x-nonce');
  const res = verifyCallbackSignature({
    secret: o.secret,
    timestamp: header(o.headers, 'x-timestamp'),
    nonce,
    signature: header(o.headers, 'x-signature'),
    method: o.method,
    pathWithQuery: u.pathname + u.search,
    rawBody: o.rawBody,
    nowMs,
  });
  if (!res.ok) return res;
  if (o.nonces && !(await o.nonces.accept(nonce!, SIGNATURE_WINDOW_S * 2 * 1000, nowMs)))
    return { ok: false, reason: 'replay' };
  const deliveryId = header(o.headers, 'x-delivery-id');
  return deliveryId ? { ok: true, deliveryId } : { ok: true };
}
