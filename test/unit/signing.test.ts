// Request and callback signing (docs/api.md §3): fixed vectors (computed independently with openssl),
// the verification rules, the separation of the two strings (a captured callback is never a valid
// request, and the reverse), and the nonce cache that rejects replays.
import { describe, expect, it } from 'vitest';
import { NonceCache } from '../../src/security/nonce-cache.ts';
import {
  CALLBACK_PREFIX,
  callbackSignaturePayload,
  callbackSignedHeaders,
  NONCE_RE,
  sign,
  signaturePayload,
  signCallback,
  signedHeaders,
  verifyCallbackSignature,
  verifySignature,
} from '../../src/security/signing.ts';

const SECRET = 'tier1-shared-secret';
const BODY = '{"type":"analysis","instructions":"hi"}';
// printf '%s' '1700000000.nonce_ABC-123.POST./api/workflows?limit=5.<BODY>' | openssl dgst -sha256 -hmac tier1-shared-secret
const VECTOR = 'sha256=70bb6b9e33ca23e187a494c2a37bbbbcfce955d19307e87c89d12ec4b933d393';
// printf '%s' '1700000000.abcdefgh.GET./api/sessions.' | openssl dgst -sha256 -hmac tier1-shared-secret
const VECTOR_EMPTY = 'sha256=53fae394add9bcbd0139260ffbe8498e0a8a6efa39ca46e34a99c4f06a035737';
const NOW = 1_700_000_000_000;
const CB_BODY = '{"id":"wf_1","status":"completed"}';
// printf '%s' 'callback.1700000000.nonce_ABC-123.POST./cb/x?y=1.<CB_BODY>' | openssl dgst -sha256 -hmac tier1-shared-secret
const CB_VECTOR = 'sha256=18789fb2a1b7c08d2738673422e1f45569d3205fb81ed4a46a0f5a65b9247066';

describe('sign', () => {
  it('matches the known vectors (string and byte bodies, method case-insensitive)', () => {
    expect(sign(SECRET, '1700000000', 'nonce_ABC-123', 'POST', '/api/workflows?limit=5', BODY)).toBe(VECTOR);
    expect(
      sign(SECRET, '1700000000', 'nonce_ABC-123', 'post', '/api/workflows?limit=5', Buffer.from(BODY)),
    ).toBe(VECTOR);
    expect(sign(SECRET, '1700000000', 'abcdefgh', 'GET', '/api/sessions', '')).toBe(VECTOR_EMPTY);
    expect(signaturePayload('1700000000', 'abcdefgh', 'get', '/api/sessions', '')).toBe(
      '1700000000.abcdefgh.GET./api/sessions.',
    );
  });

  it('signs non-UTF-8 bodies byte for byte', () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x41]);
    const a = sign(SECRET, '1', 'abcdefgh', 'POST', '/x', bytes);
    const b = sign(SECRET, '1', 'abcdefgh', 'POST', '/x', new Uint8Array([0xff, 0xfd, 0x00, 0x41]));
    expect(a).not.toBe(b);
  });

  it('signedHeaders produces headers that verify, with a valid nonce', () => {
    const h = signedHeaders(SECRET, 'POST', 'https://tier1.example/cb/x?y=1', BODY, NOW);
    expect(h['X-Timestamp']).toBe('1700000000');
    expect(NONCE_RE.test(h['X-Nonce']!)).toBe(true);
    const v = verifySignature({
      secret: SECRET,
      timestamp: h['X-Timestamp'],
      nonce: h['X-Nonce'],
      signature: h['X-Signature'],
      method: 'POST',
      pathWithQuery: '/cb/x?y=1',
      rawBody: BODY,
      nowMs: NOW,
    });
    expect(v).toEqual({ ok: true });
  });
});

describe('callback signing', () => {
  it('matches the known vector over "callback.<ts>.<nonce>.POST.<path+query>.<raw body>"', () => {
    expect(callbackSignaturePayload('1700000000', 'nonce_ABC-123', '/cb/x?y=1', CB_BODY)).toBe(
      `callback.1700000000.nonce_ABC-123.POST./cb/x?y=1.${CB_BODY}`,
    );
    expect(CALLBACK_PREFIX).toBe('callback.');
    expect(signCallback(SECRET, '1700000000', 'nonce_ABC-123', '/cb/x?y=1', CB_BODY)).toBe(CB_VECTOR);
    expect(signCallback(SECRET, '1700000000', 'nonce_ABC-123', '/cb/x?y=1', Buffer.from(CB_BODY))).toBe(
      CB_VECTOR,
    );
    // the request signature over the same parts differs
    expect(sign(SECRET, '1700000000', 'nonce_ABC-123', 'POST', '/cb/x?y=1', CB_BODY)).not.toBe(CB_VECTOR);
  });

  it('callback headers verify as a callback and never as a request; request headers never as a callback', () => {
    const parts = {
      secret: SECRET,
      method: 'POST',
      pathWithQuery: '/cb/x?y=1',
      rawBody: CB_BODY,
      nowMs: NOW,
    };
    const cb = callbackSignedHeaders(SECRET, 'https://tier1.example/cb/x?y=1', CB_BODY, NOW);
    const asHeaders = (h: Record<string, string>) => ({
      timestamp: h['X-Timestamp'],
      nonce: h['X-Nonce'],
      signature: h['X-Signature'],
    });
    expect(verifyCallbackSignature({ ...parts, ...asHeaders(cb) })).toEqual({ ok: true });
    expect(verifySignature({ ...parts, ...asHeaders(cb) })).toEqual({ ok: false, reason: 'bad_signature' });
    // not under any method either
    for (const method of ['GET', 'PUT', 'DELETE'])
      expect(verifySignature({ ...parts, method, ...asHeaders(cb) }).ok).toBe(false);
    const req = signedHeaders(SECRET, 'POST', 'https://tier1.example/cb/x?y=1', CB_BODY, NOW);
    expect(verifySignature({ ...parts, ...asHeaders(req) })).toEqual({ ok: true });
    expect(verifyCallbackSignature({ ...parts, ...asHeaders(req) })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    // a callback only verifies as a POST
    expect(verifyCallbackSignature({ ...parts, method: 'PUT', ...asHeaders(cb) }).ok).toBe(false);
  });

  it('the known callback vector fails request verification', () => {
    const r = verifySignature({
      secret: SECRET,
      timestamp: '1700000000',
      nonce: 'nonce_ABC-123',
      signature: CB_VECTOR,
      method: 'POST',
      pathWithQuery: '/cb/x?y=1',
      rawBody: CB_BODY,
      nowMs: NOW,
    });
    expect(r).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('verifySignature', () => {
  const base = {
    secret: SECRET,
    timestamp: '1700000000',
    nonce: 'nonce_ABC-123',
    signature: VECTOR,
    method: 'POST',
    pathWithQuery: '/api/workflows?limit=5',
    rawBody: BODY,
    nowMs: NOW,
  };
  const reason = (
    over: Partial<typeof base> & {
      timestamp?: string | undefined;
      nonce?: string | undefined;
      signature?: string | undefined;
    },
  ) => {
    const r = verifySignature({ ...base, ...over });
    return r.ok ? 'ok' : r.reason;
  };

  it('accepts the vector, also with upper-case hex', () => {
    expect(reason({})).toBe('ok');
    expect(reason({ signature: `sha256=${VECTOR.slice(7).toUpperCase()}` })).toBe('ok');
  });
  it('rejects tampering with any signed part', () => {
    expect(reason({ rawBody: `${BODY} ` })).toBe('bad_signature');
    expect(reason({ pathWithQuery: '/api/workflows?limit=6' })).toBe('bad_signature');
    expect(reason({ pathWithQuery: '/api/workflows' })).toBe('bad_signature');
    expect(reason({ method: 'PUT' })).toBe('bad_signature');
    expect(reason({ secret: 'other' })).toBe('bad_signature');
    expect(reason({ signature: VECTOR.replace('sha256=', 'sha1=') })).toBe('bad_signature');
    expect(reason({ signature: VECTOR.slice(0, -1) })).toBe('bad_signature');
  });
  it('enforces the ±300 s window', () => {
    expect(reason({ nowMs: NOW + 300_000 })).toBe('ok');
    expect(reason({ nowMs: NOW - 300_000 })).toBe('ok');
    expect(reason({ nowMs: NOW + 301_000 })).toBe('stale');
    expect(reason({ nowMs: NOW - 301_000 })).toBe('stale');
  });
  it('rejects missing and malformed headers', () => {
    expect(reason({ timestamp: undefined })).toBe('missing_headers');
    expect(reason({ nonce: '' })).toBe('missing_headers');
    expect(reason({ signature: undefined })).toBe('missing_headers');
    expect(reason({ timestamp: '1700000000.5' })).toBe('bad_timestamp');
    expect(reason({ timestamp: '-1' })).toBe('bad_timestamp');
    expect(reason({ nonce: 'short' })).toBe('bad_nonce');
    expect(reason({ nonce: 'has space!' })).toBe('bad_nonce');
    expect(reason({ nonce: 'x'.repeat(129) })).toBe('bad_nonce');
  });
});

describe('NonceCache', () => {
  it('rejects a nonce seen within the TTL and accepts it again after expiry', () => {
    const c = new NonceCache(600_000);
    expect(c.accept('abcdefgh', 0)).toBe(true);
    expect(c.accept('abcdefgh', 599_999)).toBe(false);
    expect(c.accept('other-nonce', 100)).toBe(true);
    expect(c.accept('abcdefgh', 600_000)).toBe(true);
    expect(c.size).toBe(2); // the first entry expired and was replaced; other-nonce is still live
  });
  it('fails closed when full instead of forgetting nonces', () => {
    const c = new NonceCache(1_000, 2);
    expect(c.accept('n1aaaaaa', 0)).toBe(true);
    expect(c.accept('n2aaaaaa', 0)).toBe(true);
    expect(c.accept('n3aaaaaa', 0)).toBe(false);
    expect(c.accept('n3aaaaaa', 1_000)).toBe(true);
  });
});
