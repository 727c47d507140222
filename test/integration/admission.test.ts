// Memory admission through the real server (docs/api.md §10): with too little memory (an injected
// probe) a message stays queued, /health says why (`checks.queue.held: "memory"`), /metrics counts
// it in agent_runs_held{reason="memory"}; once memory is there the run goes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockLlm, startMockLlm, textReply } from '../../src/mock-llm/index.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { api, json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

const MB = 1024 * 1024;

describe('memory admission (server)', () => {
  let mock: MockLlm;
  let server: TestServer;
  let free = 10 * MB;
  beforeAll(async () => {
    mock = await startMockLlm({ responder: () => textReply('done') });
    server = await startTestServer(
      { ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: 'test-key', RUN_MEMORY_RESERVE_MB: '64' },
      { memoryProbe: () => free },
    );
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
  });

  it('holds the run while memory is short and says why in /health and /metrics', async () => {
    const { id } = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    const res = await api(server.url, 'POST', `/api/sessions/${id}/messages`, { content: 'hi' });
    expect(res.status).toBe(202);

    const health = await waitFor(async () => {
      const h = await json<{ status: string; checks: { queue: Record<string, unknown> } }>(
        await api(server.url, 'GET', '/health'),
      );
      return h.checks.queue.held === 'memory' ? h : undefined;
    });
    expect(health.status).toBe('ok'); // holding work is not being unavailable
    expect(health.checks.queue).toMatchObject({
      status: 'ok',
      queued: 1,
      active: 0,
      held: 'memory',
      memory: { availableBytes: 10 * MB, reserveBytes: 64 * MB, admits: [] },
    });
    const metrics = await waitFor(async () => {
      const text = await (await api(server.url, 'GET', '/metrics')).text();
      return /agent_runs_held\{reason="memory"\} 1\b/.test(text) ? text : undefined;
    });
    expect(metrics).toContain('agent_runs_held{reason="concurrency"}');
    expect(mock.requests).toHaveLength(0);

    free = 4096 * MB; // the next poll admits it
    const evs = await waitForRunEnd(server.url, id);
    expect(evs.some((e) => e.type === 'run.completed')).toBe(true);
    const after = await json<{ checks: { queue: Record<string, unknown> } }>(
      await api(server.url, 'GET', '/health'),
    );
    expect(after.checks.queue).toMatchObject({ queued: 0 });
    expect(after.checks.queue.held).toBeUndefined();
  });
});
