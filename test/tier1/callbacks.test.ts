// Receiving the server's callbacks with @duyetbot/tier1: the real server's signed result callback
// verifies (and only once: its nonce is then spent); handleCallback's answers and its X-Delivery-Id
// de-duplication (a repeat is answered 200 without running the handler; a handler that failed is
// not recorded, so the retry runs it); `{kind:"event"}` notifications (§10) are parsed as events.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AgentClient,
  handleCallback,
  MemoryDeliveryStore,
  MemoryNonceStore,
  type VerifiedCallback,
  verifyCallback,
} from '@duyetbot/tier1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockLlm } from '../../src/mock-llm/index.ts';
import { callbackSignedHeaders, signedHeaders } from '../../src/security/signing.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import type { TestServer } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';
import { SECRET, startWorkflowServer } from '../workflows/helpers.ts';

const URL_ = 'https://bot.example.com/callback?x=1';
const NOW = Date.now();

function callbackRequest(
  body: string,
  headers: Record<string, string>,
  method = 'POST',
  url = URL_,
): Request {
  return new Request(url, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    ...(method === 'GET' ? {} : { body }),
  });
}

describe('the real server’s callbacks', () => {
  let mock: MockLlm;
  let server: TestServer;
  let receiver: http.Server;
  const got: Array<{ raw: () => Request; verdict: Awaited<ReturnType<typeof verifyCallback>> }> = [];
  const nonces = new MemoryNonceStore();

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks);
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
        const mk = () => new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body });
        const verdict = await verifyCallback(mk(), { secret: SECRET, nonces });
        got.push({ raw: mk, verdict });
        res.writeHead(verdict.ok ? 200 : 401).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    ({ mock, server } = await startWorkflowServer({
      SIGNING_SECRET: SECRET,
      CALLBACK_ALLOW_HOSTS: '127.0.0.1',
    }));
  });
  afterAll(async () => {
    await closeMockedServer(server, mock);
    receiver.closeAllConnections();
    receiver.close();
  });

  it('verify, carry the delivery id, and cannot be replayed', async () => {
    const client = new AgentClient({ baseUrl: server.url, signingSecret: SECRET });
    const port = (receiver.address() as AddressInfo).port;
    const { workflow } = await client.submit({
      type: 'analysis',
      instructions: 'report',
      callbackUrl: `http://127.0.0.1:${port}/cb/x?tenant=a`,
    });
    await until(() => got.length > 0, 'the callback', 20_000);
    const first = got[0]!;
    expect(first.verdict).toMatchObject({
      ok: true,
      kind: 'result',
      deliveryId: `cb_${workflow.id}`,
      attempt: 1,
      workflow: { id: workflow.id, status: 'completed' },
    });
    // The same bytes and headers again (a captured callback): the nonce is spent.
    expect(await verifyCallback(first.raw(), { secret: SECRET, nonces })).toEqual({
      ok: false,
      reason: 'replay',
    });
    // Without a nonce store the signature alone still holds (within the window).
    expect((await verifyCallback(first.raw(), { secret: SECRET })).ok).toBe(true);
  });
});

describe('handleCallback', () => {
  const wf = { id: 'wf_1', status: 'completed', result: { summary: 'done' } };
  const body = JSON.stringify(wf);

  it('answers 200 once per delivery id; a failed handler is retried, not dropped', async () => {
    const deliveries = new MemoryDeliveryStore();
    const nonces = new MemoryNonceStore();
    const handled: VerifiedCallback[] = [];
    let fail = true;
    const handler = async (m: VerifiedCallback) => {
      if (fail) throw new Error('Telegram is down');
      handled.push(m);
    };
    const send = () =>
      handleCallback(
        callbackRequest(body, { ...callbackSignedHeaders(SECRET, URL_, body), 'X-Delivery-Id': 'cb_wf_1' }),
        { secret: SECRET, nonces, deliveries },
        handler,
      );
    const r1 = await send();
    expect(r1.response.status).toBe(500);
    expect(r1.outcome).toBe('handler_failed');
    fail = false;
    const r2 = await send();
    expect([r2.response.status, r2.outcome]).toEqual([200, 'handled']);
    const r3 = await send();
    expect([r3.response.status, r3.outcome]).toEqual([200, 'duplicate']);
    expect(handled).toHaveLength(1);
    expect(handled[0]).toMatchObject({ kind: 'result', deliveryId: 'cb_wf_1', workflow: { id: 'wf_1' } });
  });

  it('401 for bad signatures, request signatures, GET, stale or replayed; 400 for an unreadable body', async () => {
    const o = { secret: SECRET, nonces: new MemoryNonceStore() };
    const never = async () => {
      throw new Error('must not run');
    };
    const status = async (req: Request, opts = o) => {
      const r = await handleCallback(req, opts, never);
      return [r.response.status, r.outcome];
    };
    expect(await status(callbackRequest(body, {}))).toEqual([401, 'missing_headers']);
    expect(await status(callbackRequest(body, callbackSignedHeaders('other', URL_, body)))).toEqual([
      401,
      'bad_signature',
    ]);
    expect(await status(callbackRequest(body, signedHeaders(SECRET, 'POST', URL_, body)))).toEqual([
      401,
      'bad_signature',
    ]);
    expect(await status(callbackRequest('', callbackSignedHeaders(SECRET, URL_, body), 'GET'))).toEqual([
      401,
      'bad_signature',
    ]);
    expect(
      await status(callbackRequest(body, callbackSignedHeaders(SECRET, URL_, body, NOW - 600_000))),
    ).toEqual([401, 'stale']);
    const h = callbackSignedHeaders(SECRET, URL_, body);
    const ok = await handleCallback(callbackRequest(body, h), o, async () => {});
    expect(ok.outcome).toBe('handled');
    expect(await status(callbackRequest(body, h))).toEqual([401, 'replay']);
    for (const bad of ['not json', '[]', '{"id":1}', '{"kind":"event","workflowId":"wf_1"}']) {
      expect(await status(callbackRequest(bad, callbackSignedHeaders(SECRET, URL_, bad)))).toEqual([
        400,
        'bad_body',
      ]);
    }
  });

  it('parses §10 event notifications by X-Callback-Kind (or the body’s kind)', async () => {
    const ev = {
      kind: 'event',
      workflowId: 'wf_2',
      event: {
        seq: 4,
        sessionId: 'wf_2',
        type: 'approval.requested',
        ts: 't',
        data: { approvalId: 'apr_1' },
      },
    };
    const raw = JSON.stringify(ev);
    for (const kind of [{ 'X-Callback-Kind': 'event' }, {}] as Array<Record<string, string>>) {
      const v = await verifyCallback(
        callbackRequest(raw, { ...callbackSignedHeaders(SECRET, URL_, raw), ...kind }),
        {
          secret: SECRET,
        },
      );
      expect(v).toMatchObject({
        ok: true,
        kind: 'event',
        workflowId: 'wf_2',
        event: { seq: 4, data: { approvalId: 'apr_1' } },
      });
    }
    // A result body sent as an event (or the reverse) is refused.
    const asEvent = await verifyCallback(
      callbackRequest(body, { ...callbackSignedHeaders(SECRET, URL_, body), 'X-Callback-Kind': 'event' }),
      { secret: SECRET },
    );
    expect(asEvent).toEqual({ ok: false, reason: 'bad_body' });
    const asResult = await verifyCallback(
      callbackRequest(raw, { ...callbackSignedHeaders(SECRET, URL_, raw), 'X-Callback-Kind': 'result' }),
      { secret: SECRET },
    );
    expect(asResult).toEqual({ ok: false, reason: 'bad_body' });
  });
});
