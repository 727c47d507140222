// Connection-level attacks on the HTTP layer: clients that send slowly or not at all, signed
// requests whose body would be read before their headers are checked, too many connections, and
// a captured signed request replayed to a restarted server.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/security/signing.ts';
import { precheckSignedHeaders } from '../../src/server/auth.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { rawSocket, requestHead, statusOf } from '../helpers/raw-http.ts';
import { api, json, startTestServer, type TestServer } from '../helpers/server.ts';
import { sleep } from '../helpers/sleep.ts';
import { readSse } from '../helpers/sse.ts';

const KEY = `edge-key-${randomBytes(12).toString('hex')}`;
const SECRET = `edge-secret-${randomBytes(12).toString('hex')}`;
const bearer = { Authorization: `Bearer ${KEY}` };
const REQUEST_TIMEOUT_MS = 1_000;
/** How long a test waits for the server to act on a deadline: generous, never asserted as speed. */
const PATIENCE_MS = 10_000;

function signedHeaders(method: string, p: string, body: string, skewS = 0) {
  const ts = String(Math.floor(Date.now() / 1000) + skewS);
  const nonce = randomBytes(12).toString('base64url');
  return { 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': sign(SECRET, ts, nonce, method, p, body) };
}

describe('deadlines and the order of checks', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      API_KEYS: KEY,
      SIGNING_SECRET: SECRET,
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      RATE_LIMIT_PER_MINUTE: '100000',
      AUTH_FAILURES_PER_MINUTE: '100000',
    });
  });
  afterAll(() => server.close());

  it('a signed request with a stale timestamp is refused from its headers; its body is never awaited', async () => {
    const body = JSON.stringify({ title: 'never sent' });
    const s = rawSocket(server.url);
    s.write(
      requestHead('POST', '/api/sessions', {
        'Content-Type': 'application/json',
        'Content-Length': body.length,
        ...signedHeaders('POST', '/api/sessions', body, -3_600),
      }),
    );
    const data = await s.until((d) => d.includes('\r\n\r\n'), PATIENCE_MS);
    s.destroy();
    expect(statusOf(data)).toBe(401);
    expect(data).toContain('window');
    // answered before the body arrived: the connection is not reused
    expect(data.toLowerCase()).toContain('connection: close');
  });

  it('malformed signature headers are refused without reading the body either', async () => {
    const cases: Array<Record<string, string>> = [
      { 'X-Signature': 'sha256=00' }, // too short, other headers missing
      { ...signedHeaders('POST', '/api/sessions', '{}'), 'X-Nonce': 'bad nonce!' },
      { ...signedHeaders('POST', '/api/sessions', '{}'), 'X-Timestamp': '12ab' },
      { ...signedHeaders('POST', '/api/sessions', '{}'), 'X-Signature': 'sha1=abc' },
    ];
    for (const headers of cases) {
      const s = rawSocket(server.url);
      s.write(
        requestHead('POST', '/api/sessions', {
          'Content-Type': 'application/json',
          'Content-Length': 100,
          ...headers,
        }),
      );
      const data = await s.until((d) => d.includes('\r\n\r\n'), PATIENCE_MS);
      s.destroy();
      expect(statusOf(data), JSON.stringify(headers)).toBe(401);
    }
  });

  it('an unauthenticated request with a declared body gets its 401 without the body being read', async () => {
    const s = rawSocket(server.url);
    s.write(
      requestHead('POST', '/api/sessions', { 'Content-Type': 'application/json', 'Content-Length': 50_000 }),
    );
    s.write('{"title":"'); // and then nothing
    const res = await s.result(PATIENCE_MS);
    expect(statusOf(res.data)).toBe(401);
    expect(res.data.toLowerCase()).toContain('connection: close');
    expect(res.closedByServer).toBe(true);
  });

  it('headers that never finish are cut off at the deadline (408, closed)', async () => {
    const s = rawSocket(server.url);
    s.write('GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // no blank line, ever
    const res = await s.result(PATIENCE_MS);
    expect(res.closedByServer).toBe(true);
    expect(statusOf(res.data)).toBe(408);
    expect(JSON.parse(res.data.slice(res.data.indexOf('{'))).error.code).toBe('invalid_request');
  });

  it('a body trickled by an authenticated client is cut off at REQUEST_TIMEOUT_MS for the whole request', async () => {
    const s = rawSocket(server.url);
    s.write(
      requestHead('POST', '/api/sessions', {
        ...bearer,
        'Content-Type': 'application/json',
        'Content-Length': 1_000,
      }),
    );
    // one byte every 100 ms: never idle for long, but never done either
    const drip = setInterval(() => s.write(' '), 100);
    const res = await s.result(PATIENCE_MS);
    clearInterval(drip);
    expect(res.closedByServer).toBe(true);
    expect(statusOf(res.data)).toBe(408);
  });

  it('a signed request whose body never comes is cut off at the deadline too', async () => {
    const body = '{"title":"x"}';
    const s = rawSocket(server.url);
    s.write(
      requestHead('POST', '/api/sessions', {
        'Content-Type': 'application/json',
        'Content-Length': body.length,
        ...signedHeaders('POST', '/api/sessions', body),
      }),
    );
    const res = await s.result(PATIENCE_MS);
    expect(res.closedByServer).toBe(true);
    expect(statusOf(res.data)).toBe(408);
  });

  it('the deadline does not limit responses: an SSE stream lives past REQUEST_TIMEOUT_MS', async () => {
    const { id } = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}, bearer));
    const stream = readSse(
      `${server.url}/api/sessions/${id}/events?follow=true`,
      (evs) => evs.some((e) => e.event === 'session.notice'),
      { headers: bearer, timeoutMs: PATIENCE_MS * 2 },
    );
    await sleep(REQUEST_TIMEOUT_MS * 3);
    await server.runtime.eventLog.append(id, { type: 'session.notice', data: { message: 'still here' } });
    const events = await stream;
    expect(events.find((e) => e.event === 'session.notice')?.data).toContain('still here');
  });
});

describe('the signed-header checks that need no body', () => {
  it('match verifySignature’s rules, in its order', () => {
    const now = 1_700_000_000_000;
    const ok = { timestamp: '1700000000', nonce: 'abcdefgh', signature: `sha256=${'a'.repeat(64)}` };
    expect(precheckSignedHeaders(ok, now)).toBeUndefined();
    expect(precheckSignedHeaders({ ...ok, nonce: undefined }, now)).toBe('missing_headers');
    expect(precheckSignedHeaders({ ...ok, timestamp: '17e8' }, now)).toBe('bad_timestamp');
    expect(precheckSignedHeaders({ ...ok, timestamp: '1699999699' }, now)).toBe('stale');
    expect(precheckSignedHeaders({ ...ok, timestamp: '1700000300' }, now)).toBeUndefined();
    expect(precheckSignedHeaders({ ...ok, nonce: 'short' }, now)).toBe('bad_nonce');
    expect(precheckSignedHeaders({ ...ok, signature: `sha256=${'g'.repeat(64)}` }, now)).toBe(
      'bad_signature',
    );
  });
});

describe('MAX_CONNECTIONS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ MAX_CONNECTIONS: '3' });
  });
  afterAll(() => server.close());

  it('refuses connections beyond the cap and accepts again once one closes', async () => {
    const held = [rawSocket(server.url), rawSocket(server.url), rawSocket(server.url)];
    for (const s of held) s.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    for (const s of held)
      expect(statusOf(await s.until((d) => d.includes('\r\n\r\n'), PATIENCE_MS))).toBe(200);
    const extra = rawSocket(server.url);
    extra.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const refused = await extra.result(PATIENCE_MS);
    expect(refused.closedByServer).toBe(true);
    expect(refused.data).toBe('');
    held.shift()!.destroy();
    await sleep(100);
    const again = rawSocket(server.url);
    again.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(statusOf((await again.result(PATIENCE_MS)).data)).toBe(200);
    for (const s of held) s.destroy();
  });
});

describe('replay across a restart', () => {
  let child: ChildServer | undefined;
  afterAll(async () => {
    await child?.close();
  });

  it('a captured signed request is refused by the restarted server (SQLite)', async () => {
    child = await startChildServer({ env: { SIGNING_SECRET: SECRET } });
    const body = JSON.stringify({ title: 'signed once' });
    const captured = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...signedHeaders('POST', '/api/sessions', body) },
      body,
    };
    expect((await fetch(`${child.url}/api/sessions`, captured)).status).toBe(201);
    expect((await fetch(`${child.url}/api/sessions`, captured)).status).toBe(401);
    await child.kill('SIGKILL');
    await child.restart();
    const replay = await fetch(`${child.url}/api/sessions`, captured);
    expect(replay.status).toBe(401);
    expect((await json<{ error: { message: string } }>(replay)).error.message).toContain('replay');
    // one session, not two
    const list = await fetch(`${child.url}/api/sessions`, {
      headers: signedHeaders('GET', '/api/sessions', ''),
    });
    expect((await json<{ items: unknown[] }>(list)).items.length).toBe(1);
  });
});
