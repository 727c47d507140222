// Bad input gets the documented error, never a 500, never a crash, never lost data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
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
