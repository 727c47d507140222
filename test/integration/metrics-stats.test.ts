// /metrics and /api/stats through the real server: sessions and workflows run against the mock LLM
// (each ordinary run: a model call that asks for an `fs` tool, the tool, a model call that answers;
// a `[[script:fail]]` run: one model call refused with 400), then both are read and every counter
// and histogram count must have moved by exactly what ran.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  byMarker,
  lastToolResults,
  type MockLlm,
  type Responder,
  startMockLlm,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import type { Stats } from '../../src/protocol/stats.ts';
import { delta, has, parseProm, type Samples } from '../helpers/prom.ts';
import { json, startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

const KEY = 'metrics-test-api-key-0001';
const MODEL = 'claude-sonnet-4-6';

const toolThenAnswer: Responder = (req) =>
  lastToolResults(req).length > 0
    ? textReply('listed the workspace', { stopReason: 'end_turn' })
    : toolCall('fs', { operation: 'list', path: '.' });

const responder = byMarker(
  { fail: () => ({ kind: 'error', status: 400, type: 'invalid_request_error', message: 'refused' }) },
  toolThenAnswer,
);

type Usage = { inputTokens: number; outputTokens: number; costUsd: number };

describe('/metrics and /api/stats move by exactly what ran', () => {
  let mock: MockLlm;
  let server: TestServer;
  const api = (method: string, p: string, body?: unknown, key = KEY) =>
    fetch(server.url + p, {
      method,
      headers: {
        ...(key ? { Authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const scrape = async (): Promise<Samples> => {
    const res = await api('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseProm(await res.text());
  };
  const stats = async (q = ''): Promise<Stats> => {
    const res = await api('GET', `/api/stats${q}`);
    expect(res.status).toBe(200);
    return json<Stats>(res);
  };

  beforeAll(async () => {
    mock = await startMockLlm({ responder });
    server = await startTestServer({
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: 'sk-ant-metrics-test-0001',
      API_KEYS: KEY,
      RATE_LIMIT_PER_MINUTE: '100000',
    });
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
  });

  it('counts runs, workflows, tool and model calls, tokens, queue waits; resources are reported', async () => {
    const before = await scrape();
    const stats0 = await stats();
    expect(stats0.runs.count).toBe(0);

    // Two messages in one session (one after the other), a workflow that completes, one that fails.
    const session = await json<{ id: string }>(await api('POST', '/api/sessions', { title: 'metrics' }));
    for (const content of ['first', 'second']) {
      expect((await api('POST', `/api/sessions/${session.id}/messages`, { content })).status).toBe(202);
      await waitFor(async () => {
        const s = await json<{ status: string }>(await api('GET', `/api/sessions/${session.id}`));
        return s.status === 'idle';
      });
    }
    const ok = await json<{ id: string }>(
      await api('POST', '/api/workflows', { type: 'analysis', instructions: 'look around' }),
    );
    const bad = await json<{ id: string }>(
      await api('POST', '/api/workflows', { type: 'test', instructions: '[[script:fail]] go' }),
    );
    const terminal = async (id: string) =>
      waitFor(async () => {
        const w = await json<{ status: string; usage: Usage }>(await api('GET', `/api/workflows/${id}`));
        return ['completed', 'failed', 'cancelled'].includes(w.status) ? w : undefined;
      });
    const [wOk, wBad] = [await terminal(ok.id), await terminal(bad.id)];
    expect([wOk.status, wBad.status]).toEqual(['completed', 'failed']);
    const sess = await json<{ usage: Usage }>(await api('GET', `/api/sessions/${session.id}`));

    // The lifecycle listeners record just after the state is visible: wait for the last of them.
    const s = await waitFor(async () => {
      const x = await stats();
      return x.runs.count === 4 && x.workflows.count === 2 ? x : undefined;
    });
    const after = await scrape();
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    const native = { engine: 'native' };

    // runs: 2 session runs + 2 workflow runs; 3 completed, 1 failed
    expect(d('agent_runs_started_total', native)).toBe(4);
    expect(d('agent_runs_finished_total', { ...native, status: 'completed' })).toBe(3);
    expect(d('agent_runs_finished_total', { ...native, status: 'failed' })).toBe(1);
    expect(d('agent_run_duration_seconds_count', native)).toBe(4);
    expect(d('agent_run_duration_seconds_bucket', { ...native, le: '+Inf' })).toBe(4);
    expect(d('agent_run_queue_wait_seconds_count', native)).toBe(4);
    // tools: one `fs` per completed run
    expect(d('agent_tool_calls_total', { tool: 'fs', outcome: 'ok' })).toBe(3);
    expect(d('agent_tool_calls_total', { tool: 'fs', outcome: 'error' })).toBe(0);
    expect(d('agent_tool_duration_seconds_count', { tool: 'fs' })).toBe(3);
    // model calls: two per completed run, one refused
    const m = { engine: 'native', model: MODEL };
    expect(d('agent_llm_requests_total', { ...m, outcome: 'ok' })).toBe(6);
    expect(d('agent_llm_requests_total', { ...m, outcome: 'error' })).toBe(1);
    expect(d('agent_llm_request_duration_seconds_count', m)).toBe(7);
    expect(d('agent_llm_time_to_first_token_seconds_count', m)).toBe(6);
    expect(mock.requests.length).toBe(7);
    // workflows by type and status
    expect(d('agent_workflows_finished_total', { type: 'analysis', status: 'completed' })).toBe(1);
    expect(d('agent_workflows_finished_total', { type: 'test', status: 'failed' })).toBe(1);
    expect(d('agent_workflow_duration_seconds_count', { type: 'analysis', status: 'completed' })).toBe(1);
    expect(d('agent_workflow_duration_seconds_count', { type: 'test', status: 'failed' })).toBe(1);
    // tokens and cost: what the runs reported
    const input = sess.usage.inputTokens + wOk.usage.inputTokens + wBad.usage.inputTokens;
    const output = sess.usage.outputTokens + wOk.usage.outputTokens + wBad.usage.outputTokens;
    const cost = sess.usage.costUsd + wOk.usage.costUsd + wBad.usage.costUsd;
    expect(input).toBeGreaterThan(0);
    expect(d('agent_llm_tokens_total', { direction: 'input' })).toBe(input);
    expect(d('agent_llm_tokens_total', { direction: 'output' })).toBe(output);
    expect(d('agent_llm_cost_usd_total')).toBeCloseTo(cost, 9);
    // HTTP: exactly the two workflow submissions
    expect(d('agent_http_requests_total', { method: 'POST', route: '/api/workflows', status: '202' })).toBe(
      2,
    );
    expect(d('agent_http_request_duration_seconds_count', { method: 'POST', route: '/api/workflows' })).toBe(
      2,
    );
    // resources: prom-client's process metrics and the data disk
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'agent_uptime_seconds',
    ])
      expect(has(after, name), name).toBe(true);
    expect(after.get('agent_data_disk_free_bytes')).toBeGreaterThan(0);
    expect(after.get('agent_data_disk_used_bytes')).toBeGreaterThan(0);
    expect(after.get('agent_runs_active')).toBe(0);

    // /api/stats: the same figures as JSON, with percentiles
    expect(s.scope).toBe('instance');
    expect(s.window.seconds).toBe(3600);
    expect(s.runs).toMatchObject({
      active: 0,
      count: 4,
      completed: 3,
      failed: 1,
      cancelled: 0,
      errorRate: 0.25,
    });
    expect(s.runs.durationS.p50).toBeGreaterThan(0);
    expect(s.runs.durationS.p99).toBeGreaterThanOrEqual(s.runs.durationS.p50!);
    expect(s.runs.coverage.complete).toBe(true);
    expect(s.queue.depth).toBe(0);
    expect(s.queue.waitS.p50).not.toBeNull();
    expect(s.workflows).toMatchObject({ count: 2, completed: 1, failed: 1, errorRate: 0.5 });
    expect(s.toolCalls).toMatchObject({ count: 3, errors: 0, errorRate: 0 });
    expect(s.modelCalls).toMatchObject({ count: 7, errors: 1 });
    expect(s.modelCalls.timeToFirstTokenS.p50).toBeGreaterThan(0);
    expect(s.modelCalls.timeToFirstTokenS.p50).toBeLessThanOrEqual(s.modelCalls.durationS.p99!);
    expect(s.errorRate).toBe(0.25);
    expect(s.tokens).toEqual({ input, output });
    expect(s.costUsd).toBeCloseTo(cost, 6);
    expect(s.process.memory.rssBytes).toBeGreaterThan(0);
    expect(s.process.eventLoopLagMs.p99).toBeGreaterThanOrEqual(0);
    expect(s.disk.dataDir?.freeBytes).toBeGreaterThan(0);
    expect(s.alerts).toEqual([]);
  });

  it('validates the window and needs the /api auth', async () => {
    for (const q of ['?window=0', '?window=abc', '?window=99999999', '?window=1.5']) {
      const res = await api('GET', `/api/stats${q}`);
      expect(res.status, q).toBe(400);
      expect((await json<{ error: { code: string } }>(res)).error.code).toBe('invalid_request');
    }
    expect((await api('GET', '/api/stats', undefined, '')).status).toBe(401);
    expect((await api('GET', '/api/stats', undefined, 'wrong-key-000000')).status).toBe(401);
    const narrow = await stats('?window=1');
    expect(narrow.window.seconds).toBe(1);
    const doc = await json<{
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    }>(await api('GET', '/openapi.json'));
    expect(doc.paths['/api/stats']).toBeDefined();
    expect(doc.components.schemas.Stats).toBeDefined();
  });
});
