// Rate limits and connection caps (docs/api.md §4): per credential (HTTP requests and WebSocket work
// frames share one bucket), failed attempts throttled per client address AFTER the credential
// check (valid credentials behind a busy address still pass), the client address behind a trusted
// proxy, WebSocket connections per credential; health exempt. The limiters run on a clock the
// tests move, so nothing here sleeps.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sign } from '../../src/security/signing.ts';
import { ManualClock } from '../helpers/clock.ts';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';
import { type Frame, WsClient } from '../helpers/ws-client.ts';

const KEY = 'rate-limit-test-key-0123456789';
const KEY2 = 'rate-limit-test-key-abcdefghij';
const SECRET = 'rate-limit-test-signing-secret';
const bearer = (k = KEY) => ({ Authorization: `Bearer ${k}` });
type ErrorBody = { error: { code: string; message: string } };

const servers: TestServer[] = [];
async function start(env: Record<string, string>, clock = new ManualClock()): Promise<TestServer> {
  const s = await startTestServer(
    { API_KEYS: `${KEY},${KEY2}`, SIGNING_SECRET: SECRET, ...env },
    { rateLimitClock: clock.now },
  );
  servers.push(s);
  return s;
}
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function expect429(res: Response): Promise<number> {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get('Retry-After'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  const body = await json<ErrorBody>(res);
  expect(body.error.code).toBe('rate_limited');
  return retryAfter;
}

async function expectStatus(res: Response, status: number): Promise<void> {
  expect(res.status).toBe(status);
  await res.arrayBuffer();
}

const get = (server: TestServer, headers: Record<string, string> = {}) =>
  api(server.url, 'GET', '/api/sessions', undefined, headers);

function signedGet(server: TestServer, p = '/api/sessions'): Promise<Response> {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(12).toString('base64url');
  return fetch(server.url + p, {
    headers: { 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': sign(SECRET, ts, nonce, 'GET', p, '') },
  });
}

describe('per-credential rate limit', () => {
  it('a burst over the limit → 429 with Retry-After; other credentials and /health unaffected; recovers', async () => {
    const clock = new ManualClock();
    const server = await start(
      { RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: '5', RATE_LIMIT_IP_PER_MINUTE: '6000' },
      clock,
    );
    for (let i = 0; i < 5; i++) await expectStatus(await get(server, bearer()), 200);
    expect(await expect429(await get(server, bearer()))).toBe(1); // one token per second
    // POSTs count too, and are refused before doing anything
    await expect429(await api(server.url, 'POST', '/api/sessions', {}, bearer()));
    // another key has its own bucket
    await expectStatus(await get(server, bearer(KEY2)), 200);
    // health routes are exempt
    for (let i = 0; i < 30; i++) expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    // the WebSocket upgrade is counted against the same credential
    await expect(WsClient.connect(`${server.wsUrl}/ws`, bearer())).rejects.toThrow('HTTP 429');
    await clock.advance(1_000);
    await expectStatus(await get(server, bearer()), 200);
    await expect429(await get(server, bearer()));
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe('failed attempts are throttled per address, after the credential check', () => {
  it('past AUTH_FAILURES_PER_MINUTE failures get 429, while valid keys and signatures from the same address still pass', async () => {
    const clock = new ManualClock();
    // 10 failures per minute per address: a bucket of 10, one more every 6 s
    const server = await start({ AUTH_FAILURES_PER_MINUTE: '10', RATE_LIMIT_PER_MINUTE: '100000' }, clock);
    for (let i = 0; i < 10; i++) {
      const r = await get(server, { ...bearer(`guess-${i}`), 'X-Forwarded-For': '198.51.100.9' });
      expect(r.status).toBe(401);
      await r.arrayBuffer();
    }
    const refused = 24;
    for (let i = 0; i < refused; i += 3) {
      expect(await expect429(await get(server, bearer(`guess-more-${i}`)))).toBeLessThanOrEqual(6);
      await expect429(await get(server));
      expect(await rawUpgrade(server.url, { Authorization: `Bearer nope-${i}` })).toMatch(/^HTTP\/1\.1 429/);
    }
    // A NAT'ed office: the valid keys behind the same address are not locked out.
    await expectStatus(await get(server, bearer()), 200);
    await expectStatus(await get(server, bearer(KEY2)), 200);
    await expectStatus(await signedGet(server), 200);
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, bearer());
    await ws.close();
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // 6 s later one failure is allowed again (and answered as what it is)
    await clock.advance(6_000);
    await expectStatus(await get(server, bearer('guess-late')), 401);
    await expect429(await get(server, bearer('guess-later')));
    // Throttled failures are not audited one by one: 11 real failures, and one summary with the count.
    server.runtime.guard.flushThrottled();
    await server.runtime.audit.flush();
    const failed = await server.runtime.store.listAudit({ limit: 1000, action: 'auth.failed' });
    expect(failed.items.length).toBe(11);
    // Without TRUST_PROXY, X-Forwarded-For is the client's word and is ignored.
    expect(new Set(failed.items.map((r) => r.actor))).toEqual(new Set(['ip:127.0.0.1']));
    const summaries = await server.runtime.store.listAudit({ limit: 1000, action: 'auth.throttled' });
    expect(summaries.items.map((r) => [r.actor, r.details.count])).toEqual([['ip:127.0.0.1', refused + 1]]);
  });

  it('RATE_LIMIT_IP_PER_MINUTE applies to failed traffic only', async () => {
    const server = await start({
      RATE_LIMIT_PER_MINUTE: '600',
      RATE_LIMIT_BURST: '100',
      RATE_LIMIT_IP_PER_MINUTE: '60', // per-address bucket: 100 × 60/600 = 10
      AUTH_FAILURES_PER_MINUTE: '1000',
    });
    for (let i = 0; i < 30; i++) await expectStatus(await get(server, bearer(i % 2 ? KEY : KEY2)), 200);
    for (let i = 0; i < 10; i++) await expectStatus(await get(server), 401);
    await expect429(await get(server));
    await expect429(await get(server, bearer('wrong')));
    await expectStatus(await get(server, bearer()), 200);
  });

  it('behind TRUST_PROXY the client address is the right-most untrusted X-Forwarded-For entry', async () => {
    const server = await start({
      TRUST_PROXY: '127.0.0.0/8, ::1',
      AUTH_FAILURES_PER_MINUTE: '3',
      RATE_LIMIT_PER_MINUTE: '100000',
    });
    const from = (xff: string, headers: Record<string, string> = {}) =>
      get(server, { 'X-Forwarded-For': xff, ...headers });
    for (let i = 0; i < 3; i++) await expectStatus(await from('203.0.113.7'), 401);
    await expect429(await from('203.0.113.7'));
    // another client behind the same proxy has its own bucket
    await expectStatus(await from('203.0.113.8'), 401);
    // what the client itself wrote (left of the proxy's entry) changes nothing
    await expect429(await from('198.51.100.1, 203.0.113.7'));
    // proxies in the chain are skipped; a trusted hop's garbage is blamed on that hop
    await expect429(await from('203.0.113.7, 127.0.0.9'));
    await expectStatus(await from('not-an-address'), 401);
    await expectStatus(await from('203.0.113.7', bearer()), 200);
    await server.runtime.audit.flush();
    const actors = (await server.runtime.store.listAudit({ limit: 100, action: 'auth.failed' })).items.map(
      (r) => r.actor,
    );
    expect(actors.sort()).toEqual(
      ['ip:127.0.0.1', 'ip:203.0.113.7', 'ip:203.0.113.7', 'ip:203.0.113.7', 'ip:203.0.113.8'].sort(),
    );
  });
});

describe('WebSocket frames', () => {
  const open: WsClient[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });
  const replies = (ws: WsClient, type: string) => ws.frames.filter((f) => f.type === type);

  it('message/subscribe/interrupt take tokens from the credential bucket shared with HTTP; over it → rate_limited, nothing done, connection open', async () => {
    const clock = new ManualClock();
    const server = await start({ RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: '10' }, clock);
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}, bearer())); // 1 token
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, bearer()); // 1 token
    open.push(ws);
    for (let i = 0; i < 12; i++) ws.send({ type: 'message', sessionId: s.id, content: `work ${i}` });
    await ws.waitFor((f) => f.filter((x) => x.type === 'accepted' || x.type === 'error').length === 12);
    expect(replies(ws, 'accepted').length).toBe(8);
    const limited = replies(ws, 'error');
    expect(limited.length).toBe(4);
    for (const e of limited) expect(e).toMatchObject({ code: 'rate_limited', sessionId: s.id });
    expect((await server.runtime.store.listRuns(s.id)).length).toBe(8);
    // the same bucket: HTTP is refused too
    await expect429(await get(server, bearer()));
    // subscribe and interrupt are work as well; the connection stays usable
    ws.send({ type: 'subscribe', sessionId: s.id });
    ws.send({ type: 'interrupt', sessionId: s.id });
    ws.send({ type: 'ping' });
    await ws.waitFor((f) => f.some((x) => x.type === 'pong') && replies(ws, 'error').length === 6);
    expect(replies(ws, 'subscribed')).toEqual([]);
    expect(replies(ws, 'interrupted')).toEqual([]);
    expect(ws.closed).toBe(false);
    await clock.advance(1_000);
    ws.send({ type: 'subscribe', sessionId: s.id });
    await ws.waitFor((f) => f.some((x) => x.type === 'subscribed'));
  });

  it('ping and other free frames are bounded per connection: beyond the burst they are ignored', async () => {
    const clock = new ManualClock();
    const server = await start({ RATE_LIMIT_PER_MINUTE: '100000' }, clock);
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, bearer());
    open.push(ws);
    for (let i = 0; i < 200; i++) ws.send(i % 4 === 3 ? '{not json' : { type: 'ping' });
    // a work frame after them: its answer comes after every answer to the frames before it
    ws.send({ type: 'subscribe', sessionId: 'ses_marker' });
    await ws.waitFor((f) => f.some((x: Frame) => x.sessionId === 'ses_marker'));
    const answered = ws.frames.filter((f) => f.type === 'pong' || f.code === 'invalid_request').length;
    expect(answered).toBe(50); // the per-connection burst; the clock did not move
    expect(replies(ws, 'pong').length).toBe(38); // 12 of the first 50 were the invalid ones
    await clock.advance(1_000);
    ws.send({ type: 'ping' });
    await ws.waitFor((f) => f.filter((x) => x.type === 'pong').length === 39);
    expect(ws.closed).toBe(false);
  });
});

describe('WebSocket connection cap per credential', () => {
  const open: WsClient[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  it('refuses the upgrade with 429 beyond MAX_WS_PER_CREDENTIAL and frees slots on close', async () => {
    const server = await start({ MAX_WS_PER_CREDENTIAL: '2', RATE_LIMIT_PER_MINUTE: '100000' });
    open.push(await WsClient.connect(`${server.wsUrl}/ws`, bearer()));
    open.push(await WsClient.connect(`${server.wsUrl}/ws?token=${KEY}`));
    await expect(WsClient.connect(`${server.wsUrl}/ws`, bearer())).rejects.toThrow('HTTP 429');
    // the raw answer carries Retry-After and the error body
    const raw = await rawUpgrade(server.url, { Authorization: `Bearer ${KEY}` });
    expect(raw).toMatch(/^HTTP\/1\.1 429/);
    expect(raw).toMatch(/Retry-After: \d+/i);
    expect(raw).toContain('"rate_limited"');
    // another credential is not affected
    open.push(await WsClient.connect(`${server.wsUrl}/ws`, bearer(KEY2)));
    // closing one frees its slot
    await open.shift()!.close();
    const again = await waitFor(
      async () => WsClient.connect(`${server.wsUrl}/ws`, bearer()).catch(() => undefined),
      5_000,
    );
    open.push(again);
    await expect(WsClient.connect(`${server.wsUrl}/ws`, bearer())).rejects.toThrow('HTTP 429');
  });

  it('a handshake that fails after auth does not keep a slot', async () => {
    const server = await start({ MAX_WS_PER_CREDENTIAL: '1', RATE_LIMIT_PER_MINUTE: '100000' });
    for (let i = 0; i < 3; i++) {
      // authenticated but not a valid WebSocket handshake (no Sec-WebSocket-Key)
      const raw = await rawUpgrade(server.url, { Authorization: `Bearer ${KEY}` }, { omitKey: true });
      expect(raw).toMatch(/^HTTP\/1\.1 400/);
    }
    open.push(await WsClient.connect(`${server.wsUrl}/ws`, bearer()));
    await expect(WsClient.connect(`${server.wsUrl}/ws`, bearer())).rejects.toThrow('HTTP 429');
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

/** Sends an upgrade request by hand and returns the raw response head/body. */
function rawUpgrade(
  base: string,
  headers: Record<string, string>,
  opts: { omitKey?: boolean } = {},
): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      data += d;
    });
    sock.on('end', () => resolve(data));
    sock.on('close', () => resolve(data));
    sock.on('error', reject);
    const lines = [
      'GET /ws HTTP/1.1',
      `Host: ${u.host}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      ...(opts.omitKey ? [] : ['Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']),
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    sock.write(`${lines.join('\r\n')}\r\n\r\n`);
    setTimeout(() => {
      sock.destroy();
      resolve(data);
    }, 3_000).unref();
  });
}
