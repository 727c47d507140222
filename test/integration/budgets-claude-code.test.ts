// Hard budgets with the `claude-code` engine (docs/api.md §10): the real Claude Code CLI reaches
// the mock LLM only through the server's LLM proxy, whose metering of the streamed usage — not the
// SDK's own figure at the end — stops the run with `budget_exceeded` in the turn that passes the
// session's budget; the run's token is revoked so no further model request gets through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  type MessagesRequest,
  type MockLlm,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer } from '../helpers/server.ts';

// Below Claude Code's own context-window checks (it compacts, or gives up, near 200k per request).
const TURN_INPUT = 50_000;

describe('budgets (claude-code engine, through the LLM proxy)', () => {
  let mock: MockLlm;
  let server: TestServer;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      {
        // every main turn asks for another command and reports a large input: never ends by itself
        responder: (req) =>
          isClaudeCodeSideRequest(req)
            ? claudeCodeSideReply(req)
            : {
                ...toolCall('Bash', { command: 'echo step', description: 'step' }),
                usage: { inputTokens: TURN_INPUT, outputTokens: 10 },
              },
      },
      { ANTHROPIC_API_KEY: 'test-key', AGENT_ENGINE: 'claude-code' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('stops the run in the turn that passes the budget, from the usage the proxy metered', async () => {
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', { policy: { budget: { maxTokens: 120_000 } } }),
    );
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'keep going' });
    const evs = await waitForRunEnd(server.url, s.id, 90_000);
    const failed = evs.find((e) => e.type === 'run.failed');
    const error = (failed?.data ?? {}) as { error?: { code: string; usage?: { inputTokens: number } } };
    expect(error.error?.code, JSON.stringify(error)).toBe('budget_exceeded');
    // what the proxy saw, side requests (titles, …) included: past the budget
    expect(error.error?.usage?.inputTokens).toBeGreaterThan(120_000);
    const main = mock.requests.filter((r) => {
      const body = r.body as MessagesRequest | undefined;
      return body?.messages !== undefined && !isClaudeCodeSideRequest(body);
    });
    // the third main turn at the latest passes 120k (side requests count too): no fourth one
    expect(main.length).toBeGreaterThanOrEqual(1);
    expect(main.length).toBeLessThanOrEqual(3);
  });
});
