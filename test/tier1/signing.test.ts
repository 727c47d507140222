// The Web Crypto port of docs/api.md §3 signing against the server's Node implementation
// (src/security/signing.ts): identical signatures on the same inputs (the openssl vectors of
// test/unit/signing.test.ts, random inputs, byte bodies with non-UTF-8 bytes), and each side
// verifies what the other signed, requests never as callbacks and callbacks never as requests.
import { randomBytes } from 'node:crypto';
import {
  hmacSha256Hex,
  NONCE_RE,
  randomNonce,
  signCallback,
  signedCallbackHeaders,
  signedRequestHeaders,
  signRequest,
  verifyCallbackSignature,
  verifyHmacSha256,
  verifyRequestSignature,
} from '@duyetbot/tier1';
import { describe, expect, it } from 'vitest';
import * as node from '../../src/security/signing.ts';

const SECRET = 'tier1-shared-secret';
const BODY = '{"type":"analysis","instructions":"hi"}';
const NOW = 1_700_000_000_000;
// The vectors of test/unit/signing.test.ts (computed with openssl).
const VECTOR = 'sha256=70bb6b9e33ca23e187a494c2a37bbbbcfce955d19307e87c89d12ec4b933d393';
const VECTOR_EMPTY = 'sha256=53fae394add9bcbd0139260ffbe8498e0a8a6efa39ca46e34a99c4f06a035737';
const CB_VECTOR = 'sha256=18789fb2a1b7c08d2738673422e1f45569d3205fb81ed4a46a0f5a65b9247066';

describe('Web Crypto signing', () => {
  it('matches the openssl vectors', async () => {
    const p = {
      timestamp: '1700000000',
      nonce: 'nonce_ABC-123',
      method: 'post',
      pathWithQuery: '/api/workflows?limit=5',
    };
    expect(await signRequest(SECRET, { ...p, body: BODY })).toBe(VECTOR);
    expect(await signRequest(SECRET, { ...p, body: new TextEncoder().encode(BODY) })).toBe(VECTOR);
    expect(await signRequest(SECRET, { ...p, body: new TextEncoder().encode(BODY).buffer })).toBe(VECTOR);
    expect(
      await signRequest(SECRET, {
        timestamp: '1700000000',
        nonce: 'abcdefgh',
        method: 'GET',
        pathWithQuery: '/api/sessions',
        body: '',
      }),
    ).toBe(VECTOR_EMPTY);
    expect(
      await signCallback(SECRET, {
        timestamp: '1700000000',
        nonce: 'nonce_ABC-123',
        pathWithQuery: '/cb/x?y=1',
        body: '{"id":"wf_1","status":"completed"}',
      }),
    ).toBe(CB_VECTOR);
  });

  it('produces the same signatures as the Node implementation on random inputs', async () => {
    for (let i = 0; i < 50; i++) {
      const secret = randomBytes(1 + (i % 40)).toString('base64');
      const ts = String(1_600_000_000 + i * 7919);
      const nonce = randomNonce();
      const method = ['GET', 'POST', 'delete', 'Patch'][i % 4]!;
      const path = `/api/workflows/wf_${i}${i % 3 === 0 ? `?after=${i}&limit=5` : ''}`;
      // Arbitrary bytes: invalid UTF-8 must be signed as bytes, not re-encoded.
      const body = new Uint8Array(randomBytes(i * 13));
      const asText = `{"n":${i},"s":"ü€😀 ${'x'.repeat(i)}"}`;
      expect(await signRequest(secret, { timestamp: ts, nonce, method, pathWithQuery: path, body })).toBe(
        node.sign(secret, ts, nonce, method, path, body),
      );
      expect(
        await signRequest(secret, { timestamp: ts, nonce, method, pathWithQuery: path, body: asText }),
      ).toBe(node.sign(secret, ts, nonce, method, path, asText));
      expect(await signCallback(secret, { timestamp: ts, nonce, pathWithQuery: path, body })).toBe(
        node.signCallback(secret, ts, nonce, path, body),
      );
    }
  });

  it('the server verifies the package’s requests, the package verifies the server’s callbacks', async () => {
    const url = 'https://agent.example.com/api/workflows?limit=5';
    const h = await signedRequestHeaders(SECRET, 'POST', url, BODY, NOW);
    expect(NONCE_RE.test(h['X-Nonce'])).toBe(true);
    const asNode = {
      secret: SECRET,
      timestamp: h['X-Timestamp'],
      nonce: h['X-Nonce'],
      signature: h['X-Signature'],
      method: 'POST',
      pathWithQuery: '/api/workflows?limit=5',
      rawBody: BODY,
      nowMs: NOW,
    };
    expect(node.verifySignature(asNode)).toEqual({ ok: true });
    expect(node.verifyCallbackSignature(asNode)).toEqual({ ok: false, reason: 'bad_signature' });

    const cbUrl = 'https://bot.example.com/callback?chat=1';
    const cb = node.callbackSignedHeaders(SECRET, cbUrl, BODY, NOW);
    const asPkg = {
      secret: SECRET,
      timestamp: cb['X-Timestamp'],
      nonce: cb['X-Nonce'],
      signature: cb['X-Signature'],
      method: 'POST',
      pathWithQuery: '/callback?chat=1',
      body: BODY,
      nowMs: NOW,
    };
    expect(await verifyCallbackSignature(asPkg)).toEqual({ ok: true });
    expect(await verifyRequestSignature(asPkg)).toEqual({ ok: false, reason: 'bad_signature' });
    // and the package's own callback headers verify on the Node side
    const mine = await signedCallbackHeaders(SECRET, cbUrl, BODY, NOW);
    expect(
      node.verifyCallbackSignature({
        ...asNode,
        timestamp: mine['X-Timestamp'],
        nonce: mine['X-Nonce'],
        signature: mine['X-Signature'],
        pathWithQuery: '/callback?chat=1',
      }),
    ).toEqual({ ok: true });
  });

  it('refuses what an attacker would try', async () => {
    const h = await signedCallbackHeaders(SECRET, 'https://b.example/cb', BODY, NOW);
    const base = {
      secret: SECRET,
      timestamp: h['X-Timestamp'],
      nonce: h['X-Nonce'],
      signature: h['X-Signature'],
      method: 'POST',
      pathWithQuery: '/cb',
      body: BODY,
      nowMs: NOW,
    };
    const v = verifyCallbackSignature;
    expect(await v(base)).toEqual({ ok: true });
    expect(await v({ ...base, body: `${BODY} ` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await v({ ...base, pathWithQuery: '/cb?x=1' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await v({ ...base, method: 'PUT' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await v({ ...base, secret: 'other' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(
      await v({ ...base, signature: h['X-Signature'].toUpperCase().replace('SHA256=', 'sha256=') }),
    ).toEqual({ ok: true });
    expect(await v({ ...base, signature: h['X-Signature'].slice(7) })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await v({ ...base, signature: `${h['X-Signature'].slice(0, -1)}0` })).toMatchObject({ ok: false });
    expect(await v({ ...base, nowMs: NOW + 301_000 })).toEqual({ ok: false, reason: 'stale' });
    expect(await v({ ...base, nowMs: NOW - 301_000 })).toEqual({ ok: false, reason: 'stale' });
    expect(await v({ ...base, nowMs: NOW + 300_000 })).toEqual({ ok: true });
    expect(await v({ ...base, timestamp: '1e9' })).toEqual({ ok: false, reason: 'bad_timestamp' });
    expect(await v({ ...base, nonce: 'short' })).toEqual({ ok: false, reason: 'bad_nonce' });
    expect(await v({ ...base, nonce: null })).toEqual({ ok: false, reason: 'missing_headers' });
  });

  it('plain HMAC-SHA256 hex (GitHub webhooks) matches node:crypto', async () => {
    const { createHmac } = await import('node:crypto');
    const data = new Uint8Array(randomBytes(333));
    const hex = await hmacSha256Hex('whsec', data);
    expect(hex).toBe(createHmac('sha256', 'whsec').update(data).digest('hex'));
    expect(await verifyHmacSha256('whsec', data, `sha256=${hex}`)).toBe(true);
    expect(await verifyHmacSha256('whsec', data, `sha1=${hex}`)).toBe(false);
    expect(await verifyHmacSha256('whsec', data.slice(1), `sha256=${hex}`)).toBe(false);
  });
});
