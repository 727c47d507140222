// The claude-code engine never holds the real API key: it reaches the LLM through a loopback proxy
// with a per-run token that stops working when the run ends.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  type MockLlm,
  startMockLlm,
  textReply,
  toolCall,
  toolUseCount,
} from '../../src/mock-llm/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { LlmProxy } from '../../src/security/llm-proxy.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { api, json, startTestServer } from '../helpers/server.ts';

const REAL_KEY = 'sk-ant-real-secret-0123456789abcdef';

describe('LLM proxy', () => {
  let mock: MockLlm;
  let proxy: LlmProxy;
  beforeAll(async () => {
    mock = await startMockLlm({
      requireApiKey: REAL_KEY,
      responder: () => textReply('hello through the proxy'),
    });
    proxy = new LlmProxy({ upstreamUrl: mock.url, apiKey: REAL_KEY, logger: silentLogger });
    await proxy.start();
  });
  afterAll(async () => {
    await proxy?.close();
    await mock?.close();
  });

  it('swaps a live run token for the real key, streaming intact', async () => {
    const grant = proxy.grant('run_1');
    const client = new Anthropic({ apiKey: grant.apiKey, baseURL: grant.baseUrl, maxRetries: 0 });
    const msg = await client.messages
      .stream({ model: 'claude-sonnet-4-6', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'hello through the proxy' });
    const seen = mock.requests.at(-1)!;
    expect(seen.headers['x-api-key']).toBe(REAL_KEY);
    expect(JSON.stringify(seen.headers)).not.toContain(grant.apiKey);
    grant.release();
  });

  it('refuses a released token, an unknown token and no token', async () => {
    const grant = proxy.grant('run_2');
    grant.release();
    for (const key of [grant.apiKey, 'run-forged', undefined]) {
      const res = await fetch(`${proxy.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
        body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    }
    // the real key itself is not a valid run token either
    const res = await fetch(`${proxy.url}/v1/models`, { headers: { 'x-api-key': REAL_KEY } });
    expect(res.status).toBe(401);
  });

  it('only forwards the Messages and Models API', async () => {
    const grant = proxy.grant('run_3');
    for (const p of ['/v1/files', '/v1/organizations/me', '/admin', '/v1/messages/batches']) {
      const res = await fetch(proxy.url + p, { headers: { 'x-api-key': grant.apiKey } });
      expect(res.status, p).toBe(404);
    }
    grant.release();
    expect(proxy.activeGrants()).toBe(0);
  });

  it('a claude-code run works through it, and the environment its commands see holds no real key', async () => {
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      return toolUseCount(req) === 0
        ? toolCall('Bash', { command: 'env; echo END', description: 'show env' })
        : textReply('done');
    });
    const server = await startTestServer({
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: REAL_KEY,
      AGENT_ENGINE: 'claude-code',
    });
    try {
      const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
      await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'print env' });
      const evs = await waitForRunEnd(server.url, s.id, 60_000);
      expect(evs.at(-1)!.type).toBe('run.completed');
      const out = String(evs.find((e) => e.type === 'tool.completed')!.data.output);
      expect(out).toContain('END');
      expect(out).not.toContain(REAL_KEY);
      expect(JSON.stringify(evs)).not.toContain(REAL_KEY);
    } finally {
      await server.close();
    }
  });
});
