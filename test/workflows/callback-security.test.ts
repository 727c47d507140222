// Workflow callbacks as an attacker would use them, end to end on a real server:
// - a captured callback replayed to the server (to the very path it was signed for) is not a valid
//   request: 401, and nothing is audited as `signed:tier1`;
// - a callbackUrl at a loopback literal (any spelling) is refused at submit (400); a name that
//   resolves to loopback (test resolver) fails at delivery with a coarse error and nothing sent;
// - lastError never carries what answered (response body, address, port, errno).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCallback } from '../../src/client/verify-callback.ts';
import { type MockLlm, startMockLlm } from '../../src/mock-llm/index.ts';
import type { HostLookup } from '../../src/net/safe-post.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import { json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';
import {
  API_KEY,
  type Api,
  authed,
  type Delivery,
  getWf,
  SECRET,
  startReceiver,
  type Wf,
  waitTerminal,
  workflowResponder,
} from './helpers.ts';

const PLANTED = 'PLANTED-internal-secret-91c3';

type Started = { mock: MockLlm; server: TestServer; api: Api };
async function start(env: Record<string, string>, lookup?: HostLookup): Promise<Started> {
  const mock = await startMockLlm({ responder: workflowResponder() });
  const server = await startTestServer(
    {
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: 'k',
      API_KEYS: API_KEY,
      SIGNING_SECRET: SECRET,
      RATE_LIMIT_PER_MINUTE: '1000000',
      CALLBACK_RETRY_BASE_MS: '50',
      CALLBACK_RETRY_MAX_MS: '200',
      ...env,
    },
    { callbacks: lookup ? { lookup } : {} },
  );
  return { mock, server, api: authed(server.url) };
}

async function submit(api: Api, callbackUrl: string): Promise<Response> {
  return api('POST', '/api/workflows', { type: 'custom', instructions: 'notify', callbackUrl });
}

async function callbackState(api: Api, id: string, done: (cb: NonNullable<Wf['callback']>) => boolean) {
  return waitFor(async () => {
    const w = await getWf(api, id);
    return w.callback && done(w.callback) ? w : undefined;
  }, 20_000);
}

describe('without CALLBACK_ALLOW_HOSTS', () => {
  let s: Started;
  const lookups: string[] = [];
  beforeAll(async () => {
    s = await start({}, async (host) => {
      lookups.push(host);
      if (host === 'evil.test') return ['127.0.0.1'];
      throw new Error(`ENOTFOUND ${host}`);
    });
  });
  afterAll(() => closeMockedServer(s?.server, s?.mock));

  it('refuses loopback literals in every spelling at submit (400 invalid_request); nothing is sent', async () => {
    const rx = await startReceiver();
    const port = rx.url.split(':').pop();
    try {
      for (const host of [
        '127.0.0.1',
        '127.1.2.3',
        '2130706433',
        '0x7f000001',
        '0177.0.0.1',
        '127.1',
        '[::1]',
        '[::ffff:127.0.0.1]',
        '0.0.0.0',
        'localhost',
        'LOCALHOST.',
        'tier1.localhost',
        '169.254.169.254',
        '10.0.0.1',
      ]) {
        const res = await submit(s.api, `http://${host}:${port}/cb`);
        expect(res.status, host).toBe(400);
        const body = await json<{ error: { code: string; message: string; details?: { field?: string } } }>(
          res,
        );
        expect(body.error.code).toBe('invalid_request');
        expect(body.error.details?.field).toBe('callbackUrl');
        expect(body.error.message).toContain('CALLBACK_ALLOW_HOSTS');
      }
      const list = await json<{ items: Wf[] }>(await s.api('GET', '/api/workflows?limit=100'));
      expect(list.items).toHaveLength(0);
      expect(rx.deliveries).toHaveLength(0);
    } finally {
      await rx.close();
    }
  });

  it('a name resolving to loopback is accepted at submit, then refused at delivery: failed at once, coarse error, nothing sent', async () => {
    const rx = await startReceiver();
    const port = rx.url.split(':').pop();
    try {
      const res = await submit(s.api, `http://evil.test:${port}/cb`);
      expect(res.status).toBe(202);
      const w = await json<Wf>(res);
      expect((await waitTerminal(s.api, w.id)).status).toBe('completed');
      const got = await callbackState(s.api, w.id, (cb) => cb.status === 'failed');
      expect(got.callback).toEqual({
        status: 'failed',
        attempts: 1,
        lastError: 'refused: destination not allowed',
      });
      expect(lookups).toContain('evil.test');
      expect(JSON.stringify(got)).not.toContain('127.0.0.1');
      expect(rx.deliveries).toHaveLength(0);
    } finally {
      await rx.close();
    }
  });
});

describe('with CALLBACK_ALLOW_HOSTS=127.0.0.1', () => {
  let s: Started;
  beforeAll(async () => {
    s = await start({ CALLBACK_ALLOW_HOSTS: '127.0.0.1' });
  });
  afterAll(() => closeMockedServer(s?.server, s?.mock));

  it('a captured callback replayed to the server is refused (401), never audited as signed:tier1', async () => {
    const session = await json<{ id: string }>(await s.api('POST', '/api/sessions', {}));
    const rx = await startReceiver();
    try {
      // Callbacks whose path is exactly the server endpoint the attacker wants to call, so the
      // signature covers that path, the method (POST) and the body.
      const targets = [`/api/sessions/${session.id}/interrupt`, '/api/workflows'];
      const ids: string[] = [];
      for (const t of targets) {
        const res = await submit(s.api, `${rx.url}${t}`);
        expect(res.status).toBe(202);
        ids.push((await json<Wf>(res)).id);
      }
      for (const id of ids) await callbackState(s.api, id, (cb) => cb.status === 'delivered');
      const since = new Date().toISOString();
      for (const [i, t] of targets.entries()) {
        const d = rx.deliveries.find((x) => x.url === t) as Delivery;
        expect(JSON.parse(d.body)).toMatchObject({ id: ids[i] });
        // a genuine callback for the receiver
        expect(
          await verifyCallback({
            secret: SECRET,
            method: 'POST',
            url: d.url,
            headers: d.headers,
            rawBody: d.body,
          }),
        ).toEqual({ ok: true, deliveryId: `cb_${ids[i]}` });
        // the same bytes sent to the server: exact headers (no Authorization) and body
        const replay = await fetch(`${s.server.url}${t}`, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'X-Timestamp': String(d.headers['x-timestamp']),
            'X-Nonce': String(d.headers['x-nonce']),
            'X-Signature': String(d.headers['x-signature']),
          },
          body: d.body,
        });
        expect(replay.status, t).toBe(401);
        const err = await json<{ error: { code: string; message: string } }>(replay);
        expect(err.error.code).toBe('unauthorized');
        expect(err.error.message).toContain('signature does not match');
      }
      const signed = await json<{ items: Array<{ action: string }> }>(
        await s.api('GET', '/api/audit?actor=signed:tier1&limit=100'),
      );
      expect(signed.items).toEqual([]);
      const failed = await json<{ items: Array<{ action: string; target?: string; ts: string }> }>(
        await s.api('GET', `/api/audit?action=auth.failed&since=${encodeURIComponent(since)}&limit=100`),
      );
      expect(failed.items.map((a) => a.target).sort()).toEqual([...targets].sort());
      // the session was not interrupted/touched by the replay: still idle, and no workflow was created by it
      const wfs = await json<{ items: Wf[] }>(await s.api('GET', '/api/workflows?limit=100'));
      expect(wfs.items.map((w) => w.id).sort()).toEqual([...ids].sort());
    } finally {
      await rx.close();
    }
  });

  it('lastError is coarse: a planted response body and status text, the address, the port, the errno never show', async () => {
    const srv = http.createServer((_req, res) => {
      res.statusMessage = `${PLANTED} db.internal:5432`;
      res.writeHead(500, { 'X-Internal': PLANTED }).end(`${PLANTED} stack trace of an internal service`);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = String((srv.address() as AddressInfo).port);
    const url = `http://127.0.0.1:${port}/cb`;
    try {
      const w = await json<Wf>(await submit(s.api, url));
      const got = await callbackState(s.api, w.id, (cb) => cb.attempts >= 2);
      expect(got.callback).toMatchObject({ status: 'pending', lastError: 'HTTP 500' });
      expect(JSON.stringify(got)).not.toContain(PLANTED);
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
    // nothing listening any more
    const w2 = await json<Wf>(await submit(s.api, url));
    const got2 = await callbackState(s.api, w2.id, (cb) => cb.attempts >= 1);
    expect(got2.callback?.lastError).toBe('connect failed');
    const state = JSON.stringify(got2.callback);
    for (const leak of ['ECONNREFUSED', '127.0.0.1', port]) expect(state).not.toContain(leak);
  });
});
