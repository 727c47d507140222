// Bad input gets the documented error, never a 500, never a crash, never lost data.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { rawSocket, requestHead, statusOf } from '../helpers/raw-http.ts';
import { api, json, type TestServer } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';

type ErrorBody = { error: { code: string; message: string; details?: unknown } };

describe('bad input', () => {
  let server: TestServer;
  let mock: MockLlm;
  let sessionId: string;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      { responder: () => textReply('ok') },
      { ANTHROPIC_API_KEY: 'k', MAX_BODY_BYTES: '65536' },
    ));
    sessionId = (await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}))).id;
  });
  afterAll(() => closeMockedServer(server, mock));

  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    return body;
  };

  it('invalid JSON → 400 invalid_request', async () => {
    await expectError(await api(server.url, 'POST', '/api/sessions', '{"title":'), 400, 'invalid_request');
    await expectError(
      await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, 'not json'),
      400,
      'invalid_request',
    );
  });

  it('missing and wrong-typed fields → 400 with details', async () => {
    const b = await expectError(
      await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, {}),
      400,
      'invalid_request',
    );
    expect(JSON.stringify(b.error.details)).toContain('content');
    await expectError(
      await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, { content: 42 }),
      400,
      'invalid_request',
    );
    await expectError(
      await api(server.url, 'POST', '/api/sessions', { engine: 'gpt' }),
      400,
      'invalid_request',
    );
    await expectError(
      await api(server.url, 'POST', '/api/sessions', { unknownField: 1 }),
      400,
      'invalid_request',
    );
    await expectError(await api(server.url, 'POST', '/api/sessions', []), 400, 'invalid_request');
    await expectError(await api(server.url, 'GET', '/api/sessions?limit=abc'), 400, 'invalid_request');
    await expectError(
      await api(server.url, 'GET', '/api/sessions?cursor=%%%garbage'),
      400,
      'invalid_request',
    );
    await expectError(
      await api(server.url, 'GET', `/api/sessions/${sessionId}/events?after=-1`),
      400,
      'invalid_request',
    );
  });

  it('wrong content type → 400', async () => {
    const res = await fetch(`${server.url}/api/sessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: '{}',
    });
    await expectError(res, 400, 'invalid_request');
  });

  /** A body sent with Transfer-Encoding: chunked (fetch does so for a stream). */
  const chunked = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 16_384) c.enqueue(bytes.subarray(i, i + 16_384));
        c.close();
      },
    });
  const send = (method: string, p: string, body: RequestInit['body'], headers: Record<string, string> = {}) =>
    fetch(server.url + p, { method, headers, body, duplex: 'half' } as RequestInit);

  it('a body of another content type → 400, whether its length is declared or it is chunked', async () => {
    const cases: Array<[string, string, Record<string, string>]> = [
      ['POST', '/api/sessions', { 'Content-Type': 'text/plain' }],
      ['POST', '/api/sessions', {}],
      [
        'POST',
        `/api/sessions/${sessionId}/messages`,
        { 'Content-Type': 'application/x-www-form-urlencoded' },
      ],
      ['POST', '/api/sessions', { 'Content-Type': 'application/jsonx' }],
      ['PUT', `/api/sessions/${sessionId}`, { 'Content-Type': 'text/plain' }],
      ['PATCH', `/api/sessions/${sessionId}`, { 'Content-Type': 'multipart/form-data; boundary=x' }],
    ];
    for (const [method, p, headers] of cases) {
      const b1 = await expectError(await send(method, p, chunked('{}'), headers), 400, 'invalid_request');
      expect(b1.error.message, `${method} ${p} chunked`).toContain('application/json');
      const b2 = await expectError(await send(method, p, '{}', headers), 400, 'invalid_request');
      expect(b2.error.message, `${method} ${p}`).toContain('application/json');
    }
    // JSON with parameters is JSON; a bodiless POST needs no content type
    const ok = await send('POST', '/api/sessions', chunked('{"title":"chunked"}'), {
      'Content-Type': 'application/json; charset=utf-8',
    });
    expect(ok.status).toBe(201);
    expect((await json<{ title: string }>(ok)).title).toBe('chunked');
    const bodiless = await fetch(`${server.url}/api/sessions/${sessionId}/interrupt`, { method: 'POST' });
    expect(bodiless.status).toBe(202);
    await bodiless.arrayBuffer();
  });

  it('a chunked JSON body over MAX_BODY_BYTES → 413', async () => {
    const big = JSON.stringify({ content: 'x'.repeat(200_000) });
    await expectError(
      await send('POST', `/api/sessions/${sessionId}/messages`, chunked(big), {
        'Content-Type': 'application/json',
      }),
      413,
      'payload_too_large',
    );
  });

  it('malformed chunked framing → 400 in the error format, connection closed, server fine', async () => {
    const head = requestHead('POST', '/api/sessions', {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
    });
    for (const bad of [
      'zz\r\n{}\r\n0\r\n\r\n', // chunk size not hex
      '2\r\n{}}}}\r\n0\r\n\r\n', // more data than declared
      'ffffffffffffffffffff\r\n{}', // size overflow
      '2\r\n{}\r\n-1\r\n\r\n',
    ]) {
      const s = rawSocket(server.url);
      s.write(head);
      s.write(bad);
      const res = await s.result(10_000);
      expect(statusOf(res.data), JSON.stringify(bad)).toBe(400);
      expect(JSON.parse(res.data.slice(res.data.indexOf('{'))).error.code).toBe('invalid_request');
      expect(res.closedByServer).toBe(true);
    }
    expect((await api(server.url, 'GET', '/health/live')).status).toBe(200);
  });

  it('an answer sent before the body was read closes the connection; the client’s next request gets a proper answer', async () => {
    const big = JSON.stringify({ content: 'x'.repeat(200_000) });
    // Node's keep-alive agent, one socket: 413, then the next request at once
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (method: string, p: string, body?: string, type = 'application/json') =>
      new Promise<{ status: number; connection?: string }>((resolve, reject) => {
        const req = http.request(
          `${server.url}${p}`,
          {
            method,
            agent,
            headers: body ? { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) } : {},
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      for (let i = 0; i < 3; i++) {
        expect(await request('POST', `/api/sessions/${sessionId}/messages`, big)).toEqual({
          status: 413,
          connection: 'close',
        });
        expect((await request('GET', '/api/sessions')).status).toBe(200);
        expect(await request('POST', '/api/sessions', big.slice(0, 30_000), 'text/plain')).toEqual({
          status: 400,
          connection: 'close',
        });
        expect((await request('GET', '/api/sessions')).status).toBe(200);
      }
    } finally {
      agent.destroy();
    }
    // the same with fetch's pool
    for (let i = 0; i < 3; i++) {
      const r = await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, big);
      expect(r.status).toBe(413);
      await r.arrayBuffer();
      expect((await api(server.url, 'GET', '/api/sessions')).status).toBe(200);
    }
    // on the wire: the 413 says so and the server closes; a request pipelined behind it is not answered there
    const s = rawSocket(server.url);
    s.write(
      requestHead('POST', '/api/sessions', { 'Content-Type': 'application/json', 'Content-Length': 100_000 }),
    );
    s.write(`${'x'.repeat(100_000)}GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await s.result(10_000);
    expect(statusOf(res.data)).toBe(413);
    expect(res.data.toLowerCase()).toContain('connection: close');
    expect(res.closedByServer).toBe(true);
    expect(res.data.match(/HTTP\/1\.1/g)?.length).toBe(1);
  });

  it('a request whose body was read keeps its keep-alive connection', async () => {
    const s = rawSocket(server.url);
    const body = '{"title":"kept"}';
    s.write(
      requestHead('POST', '/api/sessions', {
        'Content-Type': 'application/json',
        'Content-Length': body.length,
      }),
    );
    s.write(body);
    const first = await s.until((d) => d.includes('"kept"'), 10_000);
    expect(statusOf(first)).toBe(201);
    expect(first.toLowerCase()).not.toContain('connection: close');
    s.write('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const res = await s.result(10_000);
    expect(res.data.match(/HTTP\/1\.1 200/g)?.length).toBe(1);
  });

  it('unknown session and unknown route → 404 in the error format', async () => {
    await expectError(await api(server.url, 'GET', '/api/sessions/ses_nope'), 404, 'not_found');
    await expectError(
      await api(server.url, 'POST', '/api/sessions/ses_nope/messages', { content: 'x' }),
      404,
      'not_found',
    );
    await expectError(await api(server.url, 'GET', '/api/sessions/ses_nope/events'), 404, 'not_found');
    await expectError(await api(server.url, 'DELETE', '/api/sessions/ses_nope'), 404, 'not_found');
    await expectError(await api(server.url, 'GET', '/nope'), 404, 'not_found');
    await expectError(await api(server.url, 'GET', '/api/workflows/wf_nope'), 404, 'not_found');
  });

  it('oversized body → 413 payload_too_large', async () => {
    await expectError(
      await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, { content: 'x'.repeat(100_000) }),
      413,
      'payload_too_large',
    );
  });

  it('dangerous repository URLs → 400', async () => {
    for (const repoUrl of [
      'ext::sh -c touch% /tmp/pwned',
      '--upload-pack=touch /tmp/x',
      'ftp://example.com/r.git',
      'https://user:pw@github.com/a/b',
    ]) {
      await expectError(await api(server.url, 'POST', '/api/sessions', { repoUrl }), 400, 'invalid_request');
    }
  });

  it('a bad Last-Event-ID → 400', async () => {
    const res = await fetch(`${server.url}/api/sessions/${sessionId}/events`, {
      headers: { 'Last-Event-ID': 'abc' },
    });
    await expectError(res, 400, 'invalid_request');
  });

  it('path traversal through the fs tool is refused and the run goes on', async () => {
    mock.setResponder(
      scripted([
        toolCall('fs', { operation: 'read', path: '../../../../etc/passwd' }),
        toolCall('fs', { operation: 'read', path: '/etc/passwd' }),
        toolCall('bash', { command: 'ln -s /etc etc-link' }),
        toolCall('fs', { operation: 'read', path: 'etc-link/passwd' }),
        toolCall('fs', { operation: 'write', path: '../escape.txt', content: 'x' }),
        textReply('done'),
      ]),
    );
    const s = (await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}))).id;
    await api(server.url, 'POST', `/api/sessions/${s}/messages`, { content: 'try to escape' });
    const evs = await waitForRunEnd(server.url, s);
    expect(evs.at(-1)!.type).toBe('run.completed');
    const results = evs.filter((e) => e.type === 'tool.completed');
    expect(results.map((e) => e.data.isError)).toEqual([true, true, false, true, true]);
    for (const r of [results[0], results[1], results[3], results[4]]) {
      expect(String(r!.data.output)).not.toContain('root:x:0:0');
      expect(String(r!.data.output)).toMatch(/outside|workspace/i);
    }
    mock.setResponder(() => textReply('ok'));
    const health = await api(server.url, 'GET', '/health');
    expect(health.status).toBe(200);
  });

  it('WebSocket: bad JSON and unknown types get an error frame; the connection stays open', async () => {
    const ws = await WsClient.connect(`${server.wsUrl}/ws`);
    ws.send('{not json');
    ws.send({ type: 'explode' });
    ws.send({ type: 'subscribe' });
    ws.send({ type: 'subscribe', sessionId: 'ses_missing' });
    ws.send({ type: 'ping' });
    await ws.waitFor((f) => f.some((x) => x.type === 'pong'));
    const errors = ws.frames.filter((f) => f.type === 'error');
    expect(errors.length).toBe(4);
    expect(errors[0]).toMatchObject({ code: 'invalid_request' });
    expect(String(errors[1]!.message)).toContain('unknown');
    expect(errors[3]).toMatchObject({ code: 'not_found', sessionId: 'ses_missing' });
    expect(ws.closed).toBe(false);
    await ws.close();
  });

  it('nothing above produced a 500 and the server is healthy', async () => {
    const metrics = await (await api(server.url, 'GET', '/metrics')).text();
    expect(metrics).not.toMatch(/status="5\d\d"/);
    expect((await api(server.url, 'GET', '/health')).status).toBe(200);
  });
});
