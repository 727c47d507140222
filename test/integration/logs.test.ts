// Logs through the real server: one line per request (method, route pattern, status, duration,
// request id — echoed as X-Request-Id — and the credential id, never the key), a line for every run
// and workflow state change and callback delivery with the ids they concern and the trace id, all
// valid JSON; no configured secret in any line. And the suite-wide check (test/helpers/log-check.ts)
// really catches a leak.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import {
  lastToolResults,
  type MockLlm,
  startMockLlm,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { credentialId } from '../../src/server/auth.ts';
import { capturedLogger, takeLogProblems } from '../helpers/log-check.ts';
import { json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

const KEY = 'logs-test-api-key-000001';
const SECRETS = {
  API_KEYS: KEY,
  SIGNING_SECRET: 'logs-test-signing-secret-01',
  ANTHROPIC_API_KEY: 'sk-ant-logs-test-000001',
  GITHUB_TOKEN: 'ghp_logstesttoken0000000001',
  MCP_AUTH_TOKEN: 'logs-test-mcp-token-01',
};

type Line = Record<string, unknown> & { level: string; msg: string; ts: string };

describe('logs', () => {
  let mock: MockLlm;
  let server: TestServer;
  let receiver: http.Server;
  let callbackUrl = '';
  const raw: string[] = [];
  const lines = (): Line[] =>
    raw.flatMap((c) => c.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Line);
  const api = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(server.url + p, {
      method,
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    mock = await startMockLlm({
      responder: (req) =>
        lastToolResults(req).length > 0
          ? textReply(`the key is ${SECRETS.ANTHROPIC_API_KEY}`, { stopReason: 'end_turn' }) // the model repeats a secret
          : toolCall('bash', { command: `echo ${SECRETS.GITHUB_TOKEN}` }),
    });
    receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb?token=${SECRETS.MCP_AUTH_TOKEN}`;
    server = await startTestServer(
      {
        ANTHROPIC_BASE_URL: mock.url,
        CALLBACK_ALLOW_HOSTS: '127.0.0.1',
        LOG_LEVEL: 'debug',
        RATE_LIMIT_PER_MINUTE: '100000',
        ...SECRETS,
      },
      {},
      (line) => raw.push(line),
    );
    raw.length = 0;
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
    await new Promise<void>((r) => receiver?.close(() => r()));
  });

  it('one line per request with route, status, duration, request id and credential id (never the key)', async () => {
    const res = await api('POST', '/api/sessions', { title: 'logs' }, { 'X-Request-Id': 'client-req-42' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('client-req-42');
    const s = await json<{ id: string }>(res);
    const got = await api('GET', `/api/sessions/${s.id}`, undefined, {
      'X-Request-Id': 'bad id with spaces',
    });
    const generated = got.headers.get('x-request-id');
    expect(generated).toMatch(/^req_/);
    const denied = await fetch(`${server.url}/api/sessions`, {
      headers: { Authorization: `Bearer wrong-${KEY}` },
    });
    expect(denied.status).toBe(401);
    await fetch(`${server.url}/health`);

    const reqLines = lines().filter((l) => l.msg === 'request');
    const post = reqLines.find((l) => l.requestId === 'client-req-42');
    expect(post).toMatchObject({
      level: 'info',
      component: 'http',
      method: 'POST',
      route: '/api/sessions',
      status: 201,
      credential: credentialId(KEY),
    });
    expect(typeof post?.durationMs).toBe('number');
    const get = reqLines.find((l) => l.requestId === generated);
    expect(get).toMatchObject({ method: 'GET', route: '/api/sessions/:id', status: 200 });
    expect(reqLines.find((l) => l.status === 401)).toMatchObject({
      route: '/api/*',
      level: 'info',
      method: 'GET',
    });
    expect(reqLines.find((l) => l.route === '/health')).toMatchObject({ level: 'debug' });
    expect(reqLines.filter((l) => l.requestId === 'client-req-42')).toHaveLength(1);
  });

  it('every run and workflow state change, and the callback, with the ids they concern and the trace id', async () => {
    const traceId = 'ab'.repeat(16);
    const res = await api(
      'POST',
      '/api/workflows',
      { type: 'custom', instructions: 'go', callbackUrl },
      { traceparent: `00-${traceId}-${'cd'.repeat(8)}-01` },
    );
    expect(res.status).toBe(202);
    const wf = await json<{ id: string }>(res);
    await waitFor(async () => lines().find((l) => l.msg === 'callback delivered' && l.workflowId === wf.id));
    const mine = lines().filter((l) => l.workflowId === wf.id);
    const msgs = mine.map((l) => l.msg);
    for (const m of [
      'workflow created',
      'run queued',
      'run started',
      'workflow status', // pending → running
      'run finished',
      'workflow finished',
      'callback queued',
      'callback delivered',
    ])
      expect(msgs, m).toContain(m);
    const finished = mine.find((l) => l.msg === 'run finished')!;
    expect(finished).toMatchObject({ status: 'completed', engine: 'native', traceId, component: 'runs' });
    expect(typeof finished.runId).toBe('string');
    expect(typeof finished.sessionId).toBe('string');
    expect(mine.find((l) => l.msg === 'run started')).toMatchObject({ traceId, attempt: 1 });
    const created = mine.find((l) => l.msg === 'workflow created');
    expect(created).toMatchObject({ traceId, credential: credentialId(KEY) });
    // …and names the request that created it, whose own line names the same request id.
    expect(created?.requestId).toBe(res.headers.get('x-request-id'));
    expect(lines().find((l) => l.msg === 'request' && l.requestId === created?.requestId)).toMatchObject({
      route: '/api/workflows',
      status: 202,
      traceId,
    });
    expect(mine.find((l) => l.msg === 'callback delivered')).toMatchObject({
      traceId,
      attempts: 1,
      status: 200,
    });

    // Valid JSON throughout (lines() parsed them all), and no secret anywhere — though the model and
    // the tool output repeated two of them and the callback URL holds a third.
    const text = raw.join('');
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    for (const l of lines()) {
      expect(['debug', 'info', 'warn', 'error']).toContain(l.level);
      expect(Number.isNaN(Date.parse(l.ts))).toBe(false);
    }
  });

  it('the suite-wide check catches a secret the scrubber does not know', async () => {
    // A setting named like a secret but not (yet) in configSecrets: the check finds it by its name.
    const env = { EXAMPLE_SERVICE_TOKEN: 'example-token-not-scrubbed' };
    const leaky = capturedLogger('leak test', loadConfig(env), env);
    leaky.info('sending with example-token-not-scrubbed');
    leaky.info('nothing here');
    const { problems, linesChecked } = takeLogProblems();
    expect(linesChecked).toBeGreaterThan(2);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('leak test');
    expect(problems[0]).not.toContain('example-token-not-scrubbed');
  });
});
