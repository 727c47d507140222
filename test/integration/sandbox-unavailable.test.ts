// SANDBOX=bwrap without a working bubblewrap: the server still starts and serves (npm start on a
// machine without it), /health says why, and runs fail with `sandbox_unavailable` — nothing ever
// runs unsandboxed unless SANDBOX=none is set explicitly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, scripted, startMockLlm, textReply, toolCall } from '../../src/mock-llm/index.ts';
import { closeMockedServer } from '../helpers/mock-server.ts';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

describe('bubblewrap missing', () => {
  let server: TestServer;
  let mock: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm({
      responder: scripted([toolCall('bash', { command: 'touch /tmp/should-not-run' })], {
        fallback: textReply('x'),
      }),
    });
    server = await startTestServer({
      SANDBOX: 'bwrap',
      BWRAP_PATH: '/nonexistent/bwrap',
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: 'k',
    });
  });
  afterAll(() => closeMockedServer(server, mock));

  it('serves, reports the sandbox as failing, and fails runs with a clear error', async () => {
    const health = await api(server.url, 'GET', '/health');
    expect(health.status).toBe(503);
    const body = await json<{
      checks: { sandbox: { status: string; error: string }; database: { status: string } };
    }>(health);
    expect(body.checks.database.status).toBe('ok');
    expect(body.checks.sandbox.status).toBe('failing');
    expect(body.checks.sandbox.error).toMatch(/bubblewrap/i);
    expect(body.checks.sandbox.error).toContain('SANDBOX=none');

    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'run something' });
    const evs = await waitFor(async () => {
      const p = await json<{ items: Array<{ type: string; data: Record<string, unknown> }> }>(
        await api(server.url, 'GET', `/api/sessions/${s.id}/events?limit=100`),
      );
      return p.items.some((e) => e.type === 'run.failed') ? p.items : undefined;
    });
    expect(evs.find((e) => e.type === 'run.failed')!.data.error).toMatchObject({
      code: 'sandbox_unavailable',
    });
    expect(evs.some((e) => e.type === 'tool.started')).toBe(false);
    expect(mock.requests.length).toBe(0);
  });
});
