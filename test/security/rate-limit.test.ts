// Rate limits and connection caps (CONTRACT §4): per credential, per address before the auth
// check (so guessing keys is throttled), WebSocket connections per credential; health exempt.
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';

const KEY = 'rate-limit-test-key-0123456789';
const KEY2 = 'rate-limit-test-key-abcdefghij';
const bearer = (k = KEY) => ({ Authorization: `Bearer ${k}` });
type ErrorBody = { error: { code: string; message: string } };

const servers: TestServer[] = [];
async function start(env: Record<string, string>): Promise<TestServer> {
  const s = await startTestServer({ API_KEYS: `${KEY},${KEY2}`, ...env });
  servers.push(s);
  return s;
}
afterAll(async () => {
  for (const s of servers) await s.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends requests until one is refused with 429; counts the 200s before it and the time taken. */
async function untilThrottled(
  send: () => Promise<Response>,
  max = 100,
): Promise<{ ok: number; elapsedMs: number; throttled: Response }> {
  const t0 = performance.now();
  let ok = 0;
  for (let n = 0; n < max; n++) {
    const r = await send();
    if (r.status === 429) return { ok, elapsedMs: performance.now() - t0, throttled: r };
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    ok++;
  }
  throw new Error(`no 429 after ${max} requests`);
}

async function expect429(res: Response): Promise<number> {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get('Retry-After'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  const body = await json<ErrorBody>(res);
  expect(body.error.code).toBe('rate_limited');
  return retryAfter;
}

describe('per-credential rate limit', () => {
  it('a burst over the limit → 429 with Retry-After; other credentials and /health unaffected; recovers', async () => {
    const server = await start({
      RATE_LIMIT_PER_MINUTE: '60',
      RATE_LIMIT_BURST: '5',
      RATE_LIMIT_IP_PER_MINUTE: '6000',
    });
    // 5 in the bucket, one more per second: on a slow machine a token may come back mid-burst.
    const burst = await untilThrottled(() => api(server.url, 'GET', '/api/sessions', undefined, bearer()));
    expect(burst.ok).toBeGreaterThanOrEqual(5);
    expect(burst.ok).toBeLessThanOrEqual(5 + Math.ceil(burst.elapsedMs / 1000));
    const retryAfter = await expect429(burst.throttled);
    expect(retryAfter).toBeLessThanOrEqual(2);
    // POSTs count too, and are refused before doing anything
    await expect429(await api(server.url, 'POST', '/api/sessions', {}, bearer()));
    // another key has its own bucket
    expect((await api(server.url, 'GET', '/api/sessions', undefined, bearer(KEY2))).status).toBe(200);
    // health routes are exempt
    for (let i = 0; i < 30; i++) expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    // the WebSocket upgrade is counted against the same credential
    await expect(WsClient.connect(`${server.wsUrl}/ws`, bearer())).rejects.toThrow('HTTP 429');
    // one token per second comes back
    await sleep(retryAfter * 1000 + 100);
    expect((await api(server.url, 'GET', '/api/sessions', undefined, bearer())).status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe('per-address limits before the auth check', () => {
  it('throttles key guessing: after N failures even a correct key gets 429 until the bucket refills', async () => {
    // 10 failures per minute per address: a bucket of 10, one more every 6 s
    const server = await start({ AUTH_FAILURES_PER_MINUTE: '10' });
    let failures = 0;
    let throttled: Response | undefined;
    for (let i = 0; i < 40 && !throttled; i++) {
      const r = await api(server.url, 'GET', '/api/sessions', undefined, bearer(`guess-${i}`));
      if (r.status === 429) throttled = r;
      else {
        expect(r.status).toBe(401);
        await r.arrayBuffer();
        failures++;
      }
    }
    expect(failures).toBeGreaterThanOrEqual(10);
    expect(failures).toBeLessThan(15); // only what refilled while guessing
    const retryAfter = await expect429(throttled!);
    expect(retryAfter).toBeLessThanOrEqual(6);
    // throttled before the credential check: the right key does not get through either
    await expect429(await api(server.url, 'GET', '/api/sessions', undefined, bearer()));
    await expect(WsClient.connect(`${server.wsUrl}/ws`, bearer())).rejects.toThrow('HTTP 429');
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // once a token has come back the right key works again
    await sleep(6_100);
    expect((await api(server.url, 'GET', '/api/sessions', undefined, bearer())).status).toBe(200);
    // throttled requests are not audited one by one (the log cannot be flooded): only real failures
    await server.runtime.audit.flush();
    const audit = await server.runtime.store.listAudit({ limit: 1000, action: 'auth.failed' });
    expect(audit.items.length).toBe(failures);
  });

  it('limits all requests from one address, whatever credentials they carry', async () => {
    const server = await start({
      RATE_LIMIT_PER_MINUTE: '600',
      RATE_LIMIT_BURST: '100',
      RATE_LIMIT_IP_PER_MINUTE: '60',
    });
    // per-address bucket: 100 × 60/600 = 10, one more per second
    let i = 0;
    const burst = await untilThrottled(() =>
      api(server.url, 'GET', '/api/sessions', undefined, bearer(i++ % 2 ? KEY : KEY2)),
    );
    expect(burst.ok).toBeGreaterThanOrEqual(10);
    expect(burst.ok).toBeLessThanOrEqual(10 + Math.ceil(burst.elapsedMs / 1000));
    await expect429(burst.throttled);
    await expect429(await api(server.url, 'GET', '/api/sessions')); // unauthenticated: refused before auth
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
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
