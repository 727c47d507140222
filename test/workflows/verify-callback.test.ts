// The Tier 1 helper that verifies callback signatures (and replay with a nonce store); a signed
// request (to the server) never verifies as a callback.
import { describe, expect, it } from 'vitest';
import { MemoryNonceStore, verifyCallback } from '../../src/client/verify-callback.ts';
import { callbackSignedHeaders, signedHeaders } from '../../src/security/signing.ts';

const secret = 's3cret';
const url = 'https://tier1.example.com/callbacks/wf?tenant=a&x=1';
const body = JSON.stringify({ id: 'wf_1', status: 'completed' });

describe('verifyCallback', () => {
  it('accepts a signed callback (absolute URL or path, Headers or a plain record, string or bytes)', async () => {
    const now = Date.now();
    const h = callbackSignedHeaders(secret, url, body, now);
    expect(
      await verifyCallback({ secret, method: 'POST', url, headers: h, rawBody: body, nowMs: now }),
    ).toEqual({ ok: true });
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    expect(
      (
        await verifyCallback({
          secret,
          method: 'post',
          url: '/callbacks/wf?tenant=a&x=1',
          headers: lower,
          rawBody: body,
        })
      ).ok,
    ).toBe(true);
    const headers = new Headers({ ...h, 'X-Delivery-Id': 'cb_wf_1' });
    expect(
      await verifyCallback({ secret, method: 'POST', url, headers, rawBody: new TextEncoder().encode(body) }),
    ).toEqual({ ok: true, deliveryId: 'cb_wf_1' });
  });

  it('rejects a changed body, path, query, method or secret, and missing headers', async () => {
    const h = callbackSignedHeaders(secret, url, body);
    const base = { secret, method: 'POST', url, headers: h, rawBody: body };
    expect(await verifyCallback({ ...base, rawBody: `${body} ` })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(
      await verifyCallback({ ...base, url: 'https://tier1.example.com/callbacks/other?tenant=a&x=1' }),
    ).toEqual({ ok: false, reason: 'bad_signature' });
    expect(
      await verifyCallback({ ...base, url: 'https://tier1.example.com/callbacks/wf?tenant=b&x=1' }),
    ).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifyCallback({ ...base, method: 'PUT' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifyCallback({ ...base, secret: 'nope' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifyCallback({ ...base, headers: { 'X-Timestamp': h['X-Timestamp'] } })).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
    expect(await verifyCallback({ ...base, headers: { ...h, 'X-Nonce': 'bad nonce!' } })).toEqual({
      ok: false,
      reason: 'bad_nonce',
    });
  });

  it('rejects a request signed for the server (same secret, same method, path and body)', async () => {
    const now = Date.now();
    const asRequest = signedHeaders(secret, 'POST', url, body, now);
    expect(
      await verifyCallback({ secret, method: 'POST', url, headers: asRequest, rawBody: body, nowMs: now }),
    ).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects stale timestamps (±300 s) and replays with a nonce store', async () => {
    const t = Date.now();
    const old = callbackSignedHeaders(secret, url, body, t - 301_000);
    expect(
      await verifyCallback({ secret, method: 'POST', url, headers: old, rawBody: body, nowMs: t }),
    ).toEqual({ ok: false, reason: 'stale' });
    const future = callbackSignedHeaders(secret, url, body, t + 301_000);
    expect(
      await verifyCallback({ secret, method: 'POST', url, headers: future, rawBody: body, nowMs: t }),
    ).toEqual({ ok: false, reason: 'stale' });
    const h = callbackSignedHeaders(secret, url, body, t);
    const nonces = new MemoryNonceStore();
    expect(
      (await verifyCallback({ secret, method: 'POST', url, headers: h, rawBody: body, nowMs: t, nonces })).ok,
    ).toBe(true);
    expect(
      await verifyCallback({
        secret,
        method: 'POST',
        url,
        headers: h,
        rawBody: body,
        nowMs: t + 1_000,
        nonces,
      }),
    ).toEqual({ ok: false, reason: 'replay' });
    // a failed signature does not burn the nonce
    const h2 = callbackSignedHeaders(secret, url, body, t);
    expect(
      (await verifyCallback({ secret, method: 'POST', url, headers: h2, rawBody: 'x', nowMs: t, nonces })).ok,
    ).toBe(false);
    expect(
      (await verifyCallback({ secret, method: 'POST', url, headers: h2, rawBody: body, nowMs: t, nonces }))
        .ok,
    ).toBe(true);
    // nonces expire after the window (a stale timestamp is refused anyway)
    const store = new MemoryNonceStore();
    expect(store.accept('abcdefgh', 1000, 0)).toBe(true);
    expect(store.accept('abcdefgh', 1000, 500)).toBe(false);
    expect(store.accept('abcdefgh', 1000, 1500)).toBe(true);
  });
});
