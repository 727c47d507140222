// Auth end to end (docs/api.md §3, §4): bearer keys, signed requests, replay and tampering, the
// WebSocket upgrade, open health routes, locked metrics, the audit trail — and that no secret ever
// reaches the audit log or the logs.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, startMockLlm, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { sign } from '../../src/security/signing.ts';
import { credentialId } from '../../src/server/auth.ts';
import type { AuditRecord } from '../../src/store/types.ts';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';

const KEY = `key-${randomBytes(18).toString('hex')}`;
const KEY2 = `key2-${randomBytes(18).toString('hex')}`;
const SECRET = `sig-${randomBytes(24).toString('hex')}`;
const SECRETS = [KEY, KEY2, SECRET];

type ErrorBody = { error: { code: string; message: string } };
type AuditPage = { items: AuditRecord[]; nextCursor: string | null };

const bearer = (k = KEY) => ({ Authorization: `Bearer ${k}` });

describe('auth', () => {
  let server: TestServer;
  let mock: MockLlm;
  const logLines: string[] = [];

  beforeAll(async () => {
    mock = await startMockLlm({
      responder: scripted([
        toolCall('bash', { command: `echo ${KEY} ${SECRET} > /dev/null; echo hi` }),
        textReply('done'),
      ]),
    });
    server = await startTestServer(
      {
        ANTHROPIC_BASE_URL: mock.url,
        ANTHROPIC_API_KEY: 'test-key',
        API_KEYS: `${KEY}, ${KEY2}`,
        SIGNING_SECRET: SECRET,
        METRICS_AUTH: 'true',
        MAX_BODY_BYTES: '4096',
        LOG_LEVEL: 'debug',
        // this suite is about auth, not throttling (see rate-limit.test.ts)
        RATE_LIMIT_PER_MINUTE: '100000',
        AUTH_FAILURES_PER_MINUTE: '100000',
      },
      { logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }) },
    );
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
  });

  /** A request signed as Tier 1 does; `tamper` changes what is sent after signing. */
  async function signed(
    method: string,
    pathWithQuery: string,
    body = '',
    opts: {
      skewS?: number;
      nonce?: string;
      secret?: string;
      sendPath?: string;
      sendBody?: string;
      signature?: string;
    } = {},
  ): Promise<Response> {
    const ts = String(Math.floor(Date.now() / 1000) + (opts.skewS ?? 0));
    const nonce = opts.nonce ?? randomBytes(12).toString('base64url');
    const signature = opts.signature ?? sign(opts.secret ?? SECRET, ts, nonce, method, pathWithQuery, body);
    const sendBody = opts.sendBody ?? body;
    return fetch(server.url + (opts.sendPath ?? pathWithQuery), {
      method,
      headers: {
        'X-Timestamp': ts,
        'X-Nonce': nonce,
        'X-Signature': signature,
        ...(sendBody ? { 'Content-Type': 'application/json' } : {}),
      },
      body: sendBody || undefined,
    });
  }

  const expect401 = async (res: Response, what: string) => {
    expect(res.status, what).toBe(401);
    const b = await json<ErrorBody>(res);
    expect(b.error.code, what).toBe('unauthorized');
    expect(typeof b.error.message).toBe('string');
    return b;
  };

  it('refuses every /api route family without credentials', async () => {
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/api/sessions'],
      ['POST', '/api/sessions', {}],
      ['GET', '/api/sessions/ses_x'],
      ['DELETE', '/api/sessions/ses_x'],
      ['GET', '/api/sessions/ses_x/messages'],
      ['POST', '/api/sessions/ses_x/messages', { content: 'hi' }],
      ['POST', '/api/sessions/ses_x/interrupt'],
      ['GET', '/api/sessions/ses_x/events'],
      ['GET', '/api/sessions/ses_x/events?follow=true'],
      ['GET', '/api/workflows'],
      ['POST', '/api/workflows', { type: 'analysis', instructions: 'x' }],
      ['GET', '/api/workflows/wf_x'],
      ['POST', '/api/workflows/wf_x/cancel'],
      ['GET', '/api/workflows/wf_x/events'],
      ['GET', '/api/audit'],
      ['GET', '/api/does-not-exist'],
    ];
    for (const [method, p, body] of calls)
      await expect401(await api(server.url, method, p, body), `${method} ${p}`);
  });

  it('refuses the /ws upgrade without credentials or with a wrong token', async () => {
    await expect(WsClient.connect(`${server.wsUrl}/ws`)).rejects.toThrow('HTTP 401');
    await expect(WsClient.connect(`${server.wsUrl}/ws?token=wrong-token`)).rejects.toThrow('HTTP 401');
    await expect(WsClient.connect(`${server.wsUrl}/ws`, { Authorization: 'Bearer nope' })).rejects.toThrow(
      'HTTP 401',
    );
  });

  it('bearer keys: right ones pass, wrong ones and other schemes do not', async () => {
    expect((await api(server.url, 'GET', '/api/sessions', undefined, bearer())).status).toBe(200);
    expect((await api(server.url, 'GET', '/api/sessions', undefined, bearer(KEY2))).status).toBe(200);
    expect(
      (await api(server.url, 'GET', '/api/sessions', undefined, { Authorization: `bearer   ${KEY}` })).status,
    ).toBe(200);
    await expect401(
      await api(server.url, 'GET', '/api/sessions', undefined, bearer(`${KEY}x`)),
      'longer key',
    );
    await expect401(
      await api(server.url, 'GET', '/api/sessions', undefined, bearer(KEY.slice(0, -1))),
      'prefix',
    );
    await expect401(
      await api(server.url, 'GET', '/api/sessions', undefined, { Authorization: `Basic ${KEY}` }),
      'basic',
    );
    await expect401(
      await api(server.url, 'GET', '/api/sessions', undefined, { Authorization: KEY }),
      'no scheme',
    );
    await expect401(
      await api(server.url, 'GET', '/api/sessions', undefined, { 'X-Api-Key': KEY }),
      'other header',
    );
  });

  it('accepts ?token= on /ws only', async () => {
    await expect401(await api(server.url, 'GET', `/api/sessions?token=${KEY}`), '?token on /api');
    const ws = await WsClient.connect(`${server.wsUrl}/ws?token=${encodeURIComponent(KEY)}`);
    ws.send({ type: 'ping' });
    await ws.waitFor((f) => f.some((x) => x.type === 'pong'));
    await ws.close();
    const ws2 = await WsClient.connect(`${server.wsUrl}/ws`, bearer(KEY2));
    await ws2.close();
  });

  it('accepts correctly signed requests (query and body covered)', async () => {
    const list = await signed('GET', '/api/sessions?limit=5');
    expect(list.status).toBe(200);
    const body = JSON.stringify({ title: 'signed session', metadata: { from: 'tier1' } });
    const created = await signed('POST', '/api/sessions', body);
    expect(created.status).toBe(201);
    expect((await json<{ title: string }>(created)).title).toBe('signed session');
    const wf = await signed(
      'POST',
      '/api/workflows?source=tier1',
      JSON.stringify({ type: 'analysis', instructions: 'look around' }),
    );
    expect(wf.status).toBe(202);
    // within the window on both sides (a few seconds of margin: the test's clock and the server's
    // are read at different moments and rounded to seconds; the exact edge is tested in
    // http-edges.test.ts on a fixed clock)
    expect((await signed('GET', '/api/workflows?limit=1', '', { skewS: -295 })).status).toBe(200);
    expect((await signed('GET', '/api/workflows?limit=1', '', { skewS: 295 })).status).toBe(200);
  });

  it('rejects wrong signatures, tampering, stale timestamps, replays and malformed nonces', async () => {
    const body = JSON.stringify({ title: 'a' });
    await expect401(
      await signed('POST', '/api/sessions', body, { secret: 'not-the-secret' }),
      'wrong secret',
    );
    await expect401(
      await signed('POST', '/api/sessions', body, { signature: `sha256=${'0'.repeat(64)}` }),
      'zero sig',
    );
    await expect401(await signed('POST', '/api/sessions', body, { signature: 'garbage' }), 'garbage sig');
    await expect401(
      await signed('POST', '/api/sessions', body, { sendBody: JSON.stringify({ title: 'b' }) }),
      'tampered body',
    );
    await expect401(
      await signed('GET', '/api/sessions?limit=5', '', { sendPath: '/api/sessions?limit=6' }),
      'tampered query',
    );
    await expect401(
      await signed('GET', '/api/sessions?limit=5', '', { sendPath: '/api/sessions' }),
      'dropped query',
    );
    await expect401(
      await signed('GET', '/api/sessions', '', { sendPath: '/api/workflows' }),
      'tampered path',
    );
    const stale = await expect401(await signed('GET', '/api/sessions', '', { skewS: -305 }), 'stale past');
    expect(stale.error.message).toContain('window');
    await expect401(await signed('GET', '/api/sessions', '', { skewS: 305 }), 'stale future');
    for (const nonce of ['short', 'has space in it', 'x'.repeat(129), 'bad/char/nonce', '']) {
      await expect401(await signed('GET', '/api/sessions', '', { nonce }), `nonce ${JSON.stringify(nonce)}`);
    }
    // replay: the same signed request twice
    const nonce = `replay-${randomBytes(8).toString('hex')}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = {
      'X-Timestamp': ts,
      'X-Nonce': nonce,
      'X-Signature': sign(SECRET, ts, nonce, 'GET', '/api/sessions', ''),
    };
    expect((await fetch(`${server.url}/api/sessions`, { headers })).status).toBe(200);
    const replay = await expect401(await fetch(`${server.url}/api/sessions`, { headers }), 'replay');
    expect(replay.error.message).toContain('replay');
    // missing pieces
    await expect401(
      await fetch(`${server.url}/api/sessions`, { headers: { 'X-Signature': headers['X-Signature'] } }),
      'only signature',
    );
    await expect401(
      await fetch(`${server.url}/api/sessions`, {
        headers: { 'X-Timestamp': ts, 'X-Nonce': `n-${randomBytes(8).toString('hex')}` },
      }),
      'no signature',
    );
  });

  it('accepts a signed /ws upgrade', async () => {
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(12).toString('base64url');
    const headers = {
      'X-Timestamp': ts,
      'X-Nonce': nonce,
      'X-Signature': sign(SECRET, ts, nonce, 'GET', '/ws?v=1', ''),
    };
    const ws = await WsClient.connect(`${server.wsUrl}/ws?v=1`, headers);
    await ws.close();
    await expect(WsClient.connect(`${server.wsUrl}/ws?v=1`, headers)).rejects.toThrow('HTTP 401'); // replayed
  });

  it('keeps /health open while /api is locked; /metrics needs auth with METRICS_AUTH=true', async () => {
    for (const p of ['/health', '/health/live', '/health/ready', '/openapi.json']) {
      expect((await fetch(server.url + p)).status, p).toBe(200);
    }
    await expect401(await fetch(`${server.url}/metrics`), '/metrics');
    const m = await fetch(`${server.url}/metrics`, { headers: bearer() });
    expect(m.status).toBe(200);
    const text = await m.text();
    expect(text).toContain('# TYPE');
    expect(text).toMatch(/agent_auth_failures_total\{reason="invalid_bearer"\} \d+/);
    expect(text).toMatch(/agent_auth_failures_total\{reason="replayed_nonce"\} \d+/);
  });

  it('documents the security schemes in OpenAPI (global, health open)', async () => {
    const doc = await json<{
      security?: unknown[];
      components?: { securitySchemes?: Record<string, { type: string }> };
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    }>(await fetch(`${server.url}/openapi.json`));
    expect(doc.components?.securitySchemes?.bearerAuth?.type).toBe('http');
    expect(doc.components?.securitySchemes?.signedRequest?.type).toBe('apiKey');
    expect(doc.security).toEqual([{ bearerAuth: [] }, { signedRequest: [] }]);
    expect(doc.paths['/health']?.get?.security).toEqual([]);
    expect(doc.paths['/metrics']?.get?.security).toBeUndefined(); // locked: inherits the global requirement
    expect(doc.paths['/api/audit']?.get).toBeDefined();
    expect(doc.paths['/api/sessions']?.post?.security).toBeUndefined();
  });

  it('caps request bodies with 413 when authenticated (bearer and signed)', async () => {
    const big = JSON.stringify({ title: 'x', systemPrompt: 'y'.repeat(8_000) });
    const r1 = await api(server.url, 'POST', '/api/sessions', big, bearer());
    expect(r1.status).toBe(413);
    expect((await json<ErrorBody>(r1)).error.code).toBe('payload_too_large');
    const r2 = await signed('POST', '/api/sessions', big);
    expect(r2.status).toBe(413);
    expect((await json<ErrorBody>(r2)).error.code).toBe('payload_too_large');
    // chunked (no Content-Length): the limit applies while the signature check reads the body
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(12).toString('base64url');
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const r3 = await fetch(`${server.url}/api/sessions`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Timestamp': ts,
        'X-Nonce': nonce,
        'X-Signature': sign(SECRET, ts, nonce, 'POST', '/api/sessions', big),
      },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(r3.status).toBe(413);
  });

  it('records actions and failures in the audit log, filterable, paginated, with no secrets anywhere', async () => {
    const h = bearer();
    // session lifecycle over HTTP, one run with a tool call
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', { title: 'audited' }, h),
    );
    const sent = await api(
      server.url,
      'POST',
      `/api/sessions/${s.id}/messages`,
      { content: `please run it (${SECRET})` },
      h,
    );
    expect(sent.status).toBe(202);
    const { runId } = await json<{ runId: string }>(sent);
    await waitFor(async () => {
      const ev = await json<{ items: Array<{ type: string }> }>(
        await api(server.url, 'GET', `/api/sessions/${s.id}/events`, undefined, h),
      );
      return ev.items.some((e) => e.type === 'run.completed' || e.type === 'run.failed');
    });
    expect((await api(server.url, 'POST', `/api/sessions/${s.id}/interrupt`, undefined, h)).status).toBe(202);
    // over WebSocket
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, bearer(KEY2));
    ws.send({ type: 'interrupt', sessionId: s.id });
    await ws.waitFor((f) => f.some((x) => x.type === 'interrupted'));
    await ws.close();
    expect((await api(server.url, 'DELETE', `/api/sessions/${s.id}`, undefined, h)).status).toBe(204);
    // workflows (signed, like Tier 1)
    const wf = await json<{ id: string }>(
      await signed('POST', '/api/workflows', JSON.stringify({ type: 'custom', instructions: 'x' })),
    );
    const cancel = await signed('POST', `/api/workflows/${wf.id}/cancel`);
    expect([202, 409]).toContain(cancel.status);
    // a failed action is recorded with its error
    expect((await api(server.url, 'DELETE', '/api/sessions/ses_missing', undefined, h)).status).toBe(404);

    const list = async (q: string) =>
      json<AuditPage>(await api(server.url, 'GET', `/api/audit${q}`, undefined, h));
    const actor = credentialId(KEY);
    await waitFor(
      async () => (await list(`?action=tool.call&target=${s.id}`)).items.length > 0 || undefined,
      10_000,
    );
    await waitFor(
      async () => (await list(`?action=workflow.cancel&target=${wf.id}`)).items.length > 0 || undefined,
      10_000,
    );

    const byAction = async (action: string) => (await list(`?action=${action}&limit=500`)).items;
    const create = (await byAction('session.create')).find((r) => r.target === s.id);
    expect(create).toMatchObject({ actor, outcome: 'ok' });
    const message = (await byAction('session.message')).find((r) => r.target === s.id);
    expect(message).toMatchObject({ actor, outcome: 'ok', details: { runId } });
    const interrupts = (await byAction('session.interrupt')).filter((r) => r.target === s.id);
    expect(interrupts.map((r) => r.actor).sort()).toEqual([actor, credentialId(KEY2)].sort());
    expect((await byAction('session.delete')).find((r) => r.target === s.id)).toMatchObject({
      actor,
      outcome: 'ok',
    });
    expect((await byAction('session.delete')).find((r) => r.target === 'ses_missing')).toMatchObject({
      outcome: 'error',
      details: { status: 404, error: { code: 'not_found' } },
    });
    expect((await byAction('workflow.create')).find((r) => r.target === wf.id)).toMatchObject({
      actor: 'signed:tier1',
      outcome: 'ok',
    });
    expect((await byAction('workflow.cancel')).find((r) => r.target === wf.id)?.actor).toBe('signed:tier1');
    const tool = (await list(`?action=tool.call&target=${s.id}`)).items[0]!;
    expect(tool).toMatchObject({ actor: 'agent', outcome: 'ok', details: { tool: 'bash', runId } });
    expect(String((tool.details.input as { command: string }).command)).toContain('echo hi');
    expect(typeof tool.details.durationMs).toBe('number');

    // auth failures: actor is the client address, with the reason, never the presented secret
    const failures = await byAction('auth.failed');
    expect(failures.length).toBeGreaterThan(10);
    for (const f of failures) {
      expect(f.actor).toBe('ip:127.0.0.1');
      expect(f.outcome).toBe('denied');
      expect(typeof f.details.reason).toBe('string');
    }
    const reasons = new Set(failures.map((f) => f.details.reason));
    for (const r of [
      'missing_credentials',
      'invalid_bearer',
      'bad_signature',
      'stale',
      'bad_nonce',
      'replayed_nonce',
    ]) {
      expect(reasons, r).toContain(r);
    }
    expect(failures.some((f) => f.details.transport === 'ws')).toBe(true);

    // filters
    const all = (await list('?limit=500')).items;
    expect(new Set((await list('?action=session.create')).items.map((r) => r.action))).toEqual(
      new Set(['session.create']),
    );
    expect(
      (await list(`?actor=${encodeURIComponent(actor)}&limit=500`)).items.every((r) => r.actor === actor),
    ).toBe(true);
    expect(
      (await list(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).items,
    ).toEqual([]);
    expect(
      (await list(`?since=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}&limit=500`))
        .items.length,
    ).toBe(all.length);
    // pagination walks every record once, newest first
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: AuditPage = await list(`?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(all.length);
    // bad queries
    expect((await api(server.url, 'GET', '/api/audit?since=yesterday', undefined, h)).status).toBe(400);
    expect((await api(server.url, 'GET', '/api/audit?limit=0', undefined, h)).status).toBe(400);
    expect((await api(server.url, 'GET', '/api/audit?cursor=%25%25bad', undefined, h)).status).toBe(400);

    // No secret in the whole audit table nor in any log line.
    await server.runtime.audit.flush();
    const dump: AuditRecord[] = [];
    let c: string | undefined;
    do {
      const page = await server.runtime.store.listAudit({ limit: 1000, cursor: c });
      dump.push(...page.items);
      c = page.nextCursor ?? undefined;
    } while (c);
    expect(dump.length).toBeGreaterThan(20);
    const dumpText = JSON.stringify(dump);
    const logText = logLines.join('\n');
    expect(logText).toContain('authentication failed'); // the logs were captured
    for (const secret of SECRETS) {
      expect(dumpText.includes(secret), 'secret in audit table').toBe(false);
      expect(logText.includes(secret), 'secret in logs').toBe(false);
    }
  });

  it('holds schema limits for authenticated clients: oversized or deeply nested input → 400, never 500', async () => {
    const h = bearer();
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const bad: Array<[string, string, string]> = [
      ['POST', '/api/sessions', JSON.stringify({ title: 't'.repeat(201) })],
      ['POST', '/api/sessions', JSON.stringify({ model: 'm'.repeat(129) })],
      ['POST', '/api/sessions', JSON.stringify({ metadata: { ['k'.repeat(129)]: 1 } })],
      [
        'POST',
        '/api/sessions',
        JSON.stringify({ metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }),
      ],
      ['POST', '/api/sessions', `{"metadata":{"a":${deep(1_000)}}}`],
      ['POST', '/api/workflows', `{"type":"custom","instructions":"x","payload":{"a":${deep(1_000)}}}`],
      [
        'POST',
        '/api/workflows',
        JSON.stringify({ type: 'custom', instructions: 'x', idempotencyKey: 'i'.repeat(129) }),
      ],
      ['GET', `/api/sessions/${'s'.repeat(65)}`, ''],
      ['GET', `/api/audit?action=${'a'.repeat(129)}`, ''],
      ['GET', `/api/sessions?cursor=${'c'.repeat(257)}`, ''],
    ];
    for (const [method, p, body] of bad) {
      const r = await api(server.url, method, p, body || undefined, h);
      expect(r.status, `${method} ${p.slice(0, 40)} ${body.slice(0, 40)}`).toBe(400);
      expect((await json<ErrorBody>(r)).error.code).toBe('invalid_request');
    }
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, h);
    ws.send({ type: 'subscribe', sessionId: 's'.repeat(65) });
    ws.send({ type: 'message', sessionId: 'ses_x', content: 'x', idempotencyKey: 'i'.repeat(129) });
    await ws.waitFor((f) => f.filter((x) => x.type === 'error').length >= 2);
    expect(ws.frames.filter((x) => x.type === 'error').every((x) => x.code === 'invalid_request')).toBe(true);
    await ws.close();
  });

  it('stays healthy after all of it', async () => {
    const h = await fetch(`${server.url}/health`);
    expect(h.status).toBe(200);
    expect((await json<{ status: string }>(h)).status).toBe('ok');
    expect((await api(server.url, 'GET', '/api/sessions', undefined, bearer())).status).toBe(200);
  });
});
