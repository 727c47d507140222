// The core end-to-end test with the `claude-code` engine (the real Claude Code CLI from the Agent
// SDK) against the mock LLM speaking Claude Code's own tool names: the same event stream shape as
// `native`, a second message resumes the conversation, interrupt stops a running tool.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bugfixScenario,
  claudeCodeSideReply,
  createBugfixRepo,
  isClaudeCodeSideRequest,
  type MockLlm,
  textReply,
  toolCall,
  toolUseCount,
} from '../../src/mock-llm/index.ts';
import { allEvents, type TestEvent, waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { parseProm, sumWhere } from '../helpers/prom.ts';
import { api, json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';

describe('session end to end (claude-code engine)', () => {
  let mock: MockLlm;
  let server: TestServer;
  let bareRepo: string;

  beforeAll(async () => {
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-cc-')));
    ({ mock, server } = await startMockedServer(
      { responder: bugfixScenario('claude-code') },
      { ANTHROPIC_API_KEY: 'test-key', AGENT_ENGINE: 'claude-code' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('reads, fixes, tests, commits and pushes with Claude Code tools; events over WS in order', async () => {
    const session = await json<{ id: string; engine: string }>(
      await api(server.url, 'POST', '/api/sessions', { repoUrl: bareRepo }),
    );
    expect(session.engine).toBe('claude-code');
    const ws = await WsClient.connect(`${server.wsUrl}/ws`);
    ws.send({ type: 'subscribe', sessionId: session.id, after: 0 });
    ws.send({ type: 'message', sessionId: session.id, content: 'The tests fail. Fix the bug.' });
    await ws.waitFor(
      () => ws.events().some((e) => e.type === 'run.completed' || e.type === 'run.failed'),
      90_000,
    );
    const evs = ws.events() as TestEvent[];
    await ws.close();
    const failed = evs.find((e) => e.type === 'run.failed');
    expect(failed, JSON.stringify(failed?.data)).toBeUndefined();

    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i + 1));
    const types = evs.map((e) => e.type);
    for (const t of [
      'message.user',
      'run.queued',
      'run.started',
      'text.delta',
      'message.assistant',
      'tool.started',
      'tool.completed',
    ]) {
      expect(types).toContain(t);
    }
    expect(types.at(-1)).toBe('run.completed');
    const tools = evs.filter((e) => e.type === 'tool.started').map((e) => e.data.name);
    expect(tools).toEqual(['Read', 'Edit', 'Bash', 'Bash', 'Bash']);
    const completed = evs.filter((e) => e.type === 'tool.completed');
    expect(completed.map((e) => e.data.isError)).toEqual([false, false, false, false, false]);
    expect(completed.map((e) => e.data.toolUseId)).toEqual(
      evs.filter((e) => e.type === 'tool.started').map((e) => e.data.toolUseId),
    );
    expect(String(completed[2]!.data.output)).toContain('all tests passed');
    const usage = evs.at(-1)!.data.usage as { inputTokens: number; outputTokens: number };
    expect(usage.inputTokens).toBeGreaterThan(0);

    const subject = execFileSync('git', ['--git-dir', bareRepo, 'log', '-1', '--format=%s', 'main'], {
      encoding: 'utf8',
    }).trim();
    expect(subject).toBe('Fix add() to return the sum');
    expect(
      execFileSync('git', ['--git-dir', bareRepo, 'show', 'main:math.js'], { encoding: 'utf8' }),
    ).toContain('return a + b;');

    // the conversation as a reader sees it
    const msgs = await json<{ items: Array<{ role: string; text: string }> }>(
      await api(server.url, 'GET', `/api/sessions/${session.id}/messages`),
    );
    expect(msgs.items[0]).toMatchObject({ role: 'user', text: 'The tests fail. Fix the bug.' });
    expect(msgs.items.at(-1)).toMatchObject({
      role: 'assistant',
      text: 'Fixed the bug in add(), tests pass, and the fix is pushed.',
    });

    // every main-loop model request (the ones with tools; not Claude Code's side requests) was
    // reported by the engine: counted, timed, with its time to first token
    const prom = parseProm(await (await fetch(`${server.url}/metrics`)).text());
    const mainLoop = mock.requests.filter((r) => {
      const tools = (r.body as { tools?: unknown[] }).tools;
      return Array.isArray(tools) && tools.length > 0;
    }).length;
    expect(mainLoop).toBeGreaterThanOrEqual(6);
    const cc = { engine: 'claude-code' };
    expect(sumWhere(prom, 'agent_llm_requests_total', { ...cc, outcome: 'ok' })).toBe(mainLoop);
    expect(sumWhere(prom, 'agent_llm_time_to_first_token_seconds_count', cc)).toBe(mainLoop);

    // a second message resumes the same Claude Code conversation: the mock sees the earlier turns
    const before = mock.requests.length;
    await api(server.url, 'POST', `/api/sessions/${session.id}/messages`, {
      content: 'What did you change?',
    });
    await waitFor(
      async () =>
        (await allEvents(server.url, session.id)).filter((e) => e.type === 'run.completed').length === 2,
      60_000,
    );
    const later = mock.requests
      .slice(before)
      .map((r) => r.body as { messages: Array<{ role: string; content: unknown }>; tools?: unknown[] })
      .filter((b) => Array.isArray(b.tools) && b.tools.length > 0);
    expect(later.length).toBeGreaterThan(0);
    const transcript = JSON.stringify(later[0]!.messages);
    expect(transcript).toContain('The tests fail. Fix the bug.');
    expect(transcript).toContain('What did you change?');
  });

  it('interrupt mid-tool stops the run; the session stays usable', async () => {
    mock.setResponder((req) => {
      if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
      return toolUseCount(req) === 0
        ? toolCall('Bash', { command: 'node -e "setTimeout(() => {}, 30000)"', description: 'wait' })
        : textReply('resumed fine');
    });
    const s = await json<{ id: string }>(
      await api(server.url, 'POST', '/api/sessions', { engine: 'claude-code' }),
    );
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'wait a while' });
    await waitFor(
      async () => (await allEvents(server.url, s.id)).some((e) => e.type === 'tool.started'),
      60_000,
    );
    const t0 = Date.now();
    expect((await api(server.url, 'POST', `/api/sessions/${s.id}/interrupt`)).status).toBe(202);
    await waitFor(
      async () => (await allEvents(server.url, s.id)).some((e) => e.type === 'run.cancelled'),
      20_000,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
    await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'are you there?' });
    const evs = await waitForRunEnd(server.url, s.id, 60_000);
    expect(evs.at(-1)!.type).toBe('run.completed');
  });
});
