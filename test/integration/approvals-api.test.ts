// The approval routes' and fields' answers to bad input (docs/api.md §10), and their OpenAPI
// description, through the real server: no request of these reaches a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, json, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ CALLBACK_ALLOW_HOSTS: '127.0.0.1', RATE_LIMIT_PER_MINUTE: '1000000' });
});
afterAll(() => server.close());

const code = async (res: Response) => ({
  status: res.status,
  code: (await json<{ error?: { code: string } }>(res)).error?.code,
});

describe('approvals: bad input', () => {
  it('policy rules and timeouts are validated', async () => {
    for (const policy of [
      { approve: ['rm'] },
      { approve: ['shell:'] },
      { approve: [''] },
      { approve: 'git.push' },
      { approve: ['git.push'], approvalTimeoutMs: 5 },
      { approve: ['git.push'], extra: true },
    ]) {
      expect(
        await code(await api(server.url, 'POST', '/api/sessions', { policy })),
        JSON.stringify(policy),
      ).toEqual({
        status: 400,
        code: 'invalid_request',
      });
    }
    const ok = await api(server.url, 'POST', '/api/sessions', {
      policy: {
        approve: ['shell:rm *', 'write', 'git.push', 'github', 'mcp', '*', 'shell'],
        approvalTimeoutMs: 100,
      },
    });
    expect(ok.status).toBe(201);
    expect((await json<{ policy: unknown }>(ok)).policy).toMatchObject({ approvalTimeoutMs: 100 });
  });

  it('notify needs a callbackUrl and cannot name streamed deltas', async () => {
    const wf = (extra: object) =>
      api(server.url, 'POST', '/api/workflows', { type: 'custom', instructions: 'x', ...extra });
    expect(await code(await wf({ notify: ['approval.requested'] }))).toEqual({
      status: 400,
      code: 'invalid_request',
    });
    for (const t of ['text.delta', 'tool.output'])
      expect(await code(await wf({ notify: [t], callbackUrl: 'http://127.0.0.1:9/cb' }))).toEqual({
        status: 400,
        code: 'invalid_request',
      });
    expect(await code(await wf({ notify: ['no.such.event'], callbackUrl: 'http://127.0.0.1:9/cb' }))).toEqual(
      {
        status: 400,
        code: 'invalid_request',
      },
    );
    const ok = await wf({
      notify: ['approval.requested', 'run.started'],
      callbackUrl: 'http://127.0.0.1:9/cb',
    });
    expect(ok.status).toBe(202);
    const cancelled = await api(
      server.url,
      'POST',
      `/api/workflows/${(await json<{ id: string }>(ok)).id}/cancel`,
    );
    expect(cancelled.status).toBe(202);
  });

  it('decision routes: unknown session or workflow 404, malformed body 400, not JSON 400', async () => {
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    expect(
      await code(
        await api(server.url, 'POST', '/api/sessions/ses_nope/approvals/apr_x', { decision: 'allow' }),
      ),
    ).toEqual({
      status: 404,
      code: 'not_found',
    });
    expect(
      await code(
        await api(server.url, 'POST', `/api/sessions/${s.id}/approvals/apr_x`, { decision: 'allow' }),
      ),
    ).toEqual({
      status: 404,
      code: 'not_found',
    });
    expect(
      await code(
        await api(server.url, 'POST', '/api/workflows/wf_nope/approvals/apr_x', { decision: 'deny' }),
      ),
    ).toEqual({
      status: 404,
      code: 'not_found',
    });
    for (const body of [
      '',
      'not json',
      '[]',
      '{"decision":"allow","message":"x".repeat(5000)}',
      JSON.stringify({ decision: 'allow', message: 'x'.repeat(4001) }),
    ]) {
      const res = await api(server.url, 'POST', `/api/sessions/${s.id}/approvals/apr_x`, body, {
        'Content-Type': 'application/json',
      });
      expect(res.status, body.slice(0, 40)).toBe(400);
    }
    const long = 'a'.repeat(65);
    expect(
      (await api(server.url, 'POST', `/api/sessions/${s.id}/approvals/${long}`, { decision: 'allow' }))
        .status,
    ).toBe(400);
  });

  it('GET /api/approvals validates status, limit and cursor', async () => {
    for (const q of ['status=open', 'limit=0', 'limit=501', 'cursor=!!', 'cursor=eyJ4Ijox'])
      expect(await code(await api(server.url, 'GET', `/api/approvals?${q}`)), q).toEqual({
        status: 400,
        code: 'invalid_request',
      });
    expect(await json(await api(server.url, 'GET', '/api/approvals?status=pending'))).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it('OpenAPI documents the routes and the notify and policy fields', async () => {
    const doc = await json<{
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    }>(await api(server.url, 'GET', '/openapi.json'));
    for (const p of [
      '/api/sessions/{id}/approvals/{approvalId}',
      '/api/workflows/{id}/approvals/{approvalId}',
    ])
      expect(Object.keys(doc.paths[p]!.post!.responses).sort()).toEqual([
        '200',
        '400',
        '401',
        '404',
        '409',
        '429',
      ]);
    expect(doc.paths['/api/approvals']!.get).toBeDefined();
    expect(doc.components.schemas.ApprovalPage).toBeDefined();
    expect(doc.components.schemas.CreateWorkflowRequest!.properties).toHaveProperty('notify');
    expect(doc.components.schemas.CreateSessionRequest!.properties).toHaveProperty('policy');
  });
});
