// The vertical slice: a session on a local bare repository; the scripted agent reads a file, fixes
// a bug, runs the tests through bash, commits and pushes. Real server, real git, real SQLite.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bugfixScenario, createBugfixRepo, type MockLlm } from '../../src/mock-llm/index.ts';
import { allEvents } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { readSse } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws-client.ts';

type Ev = { seq: number; type: string; sessionId: string; runId?: string; data: Record<string, unknown> };

describe('session end to end (native engine)', () => {
  let mock: MockLlm;
  let server: TestServer;
  let bareRepo: string;

  beforeAll(async () => {
    ({ bareRepo } = await createBugfixRepo(await tempDir('fixture-')));
    ({ mock, server } = await startMockedServer(
      { responder: bugfixScenario('native') },
      { ANTHROPIC_API_KEY: 'test-key' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it('clones, reads, fixes, tests, commits and pushes; events arrive over WS and SSE in order', async () => {
    const created = await api(server.url, 'POST', '/api/sessions', { repoUrl: bareRepo, title: 'bugfix' });
    expect(created.status).toBe(201);
    const session = await json<{ id: string; status: string; lastSeq: number }>(created);
    expect(session.status).toBe('idle');

    const ws = await WsClient.connect(`${server.wsUrl}/ws`);
    ws.send({ type: 'subscribe', sessionId: session.id, after: 0 });
    await ws.waitFor((f) => f.some((x) => x.type === 'subscribed'));

    const sent = await api(server.url, 'POST', `/api/sessions/${session.id}/messages`, {
      content: 'The tests fail. Fix the bug.',
    });
    expect(sent.status).toBe(202);
    const { runId } = await json<{ runId: string }>(sent);

    await ws.waitFor(
      () => ws.events(session.id).some((e) => e.type === 'run.completed' || e.type === 'run.failed'),
      60_000,
    );
    const wsEvents = ws.events(session.id) as Ev[];
    await ws.close();
    const failed = wsEvents.find((e) => e.type === 'run.failed');
    expect(failed, JSON.stringify(failed?.data)).toBeUndefined();

    // gap-free, strictly increasing seq from 1
    expect(wsEvents.map((e) => e.seq)).toEqual(wsEvents.map((_, i) => i + 1));
    const types = wsEvents.map((e) => e.type);
    expect(types[0]).toBe('message.user');
    expect(types).toContain('run.queued');
    expect(types).toContain('run.started');
    expect(types).toContain('text.delta');
    expect(types).toContain('message.assistant');
    expect(types.at(-1)).toBe('run.completed');
    const started = wsEvents.filter((e) => e.type === 'tool.started').map((e) => `${e.data.name}`);
    expect(started).toEqual(['fs', 'fs', 'bash', 'git', 'git']);
    const completed = wsEvents.filter((e) => e.type === 'tool.completed');
    expect(completed.map((e) => e.data.isError)).toEqual([false, false, false, false, false]);
    const bashOut = wsEvents
      .filter((e) => e.type === 'tool.output')
      .map((e) => String(e.data.chunk))
      .join('');
    expect(bashOut).toContain('all tests passed');
    for (const e of wsEvents) expect(e.runId === undefined || e.runId === runId).toBe(true);
    const done = wsEvents.at(-1)!;
    expect((done.data.usage as { inputTokens: number }).inputTokens).toBeGreaterThan(0);

    // the bare repository now holds the fix
    const subject = execFileSync('git', ['--git-dir', bareRepo, 'log', '-1', '--format=%s', 'main'], {
      encoding: 'utf8',
    }).trim();
    expect(subject).toBe('Fix add() to return the sum');
    const math = execFileSync('git', ['--git-dir', bareRepo, 'show', 'main:math.js'], { encoding: 'utf8' });
    expect(math).toContain('return a + b;');
    const author = execFileSync('git', ['--git-dir', bareRepo, 'log', '-1', '--format=%an <%ae>', 'main'], {
      encoding: 'utf8',
    }).trim();
    expect(author).toBe('duyetbot <duyetbot@users.noreply.github.com>');

    // the same events over SSE (replayed from the store), same order and seq
    const sse = await readSse(`${server.url}/api/sessions/${session.id}/events?follow=true&after=0`, (evs) =>
      evs.some((e) => e.event === 'run.completed'),
    );
    const sseEvents = sse.map((e) => JSON.parse(e.data) as Ev);
    expect(sseEvents.map((e) => e.seq)).toEqual(wsEvents.map((e) => e.seq));
    expect(sse.map((e) => e.event)).toEqual(types);
    expect(sse.map((e) => Number(e.id))).toEqual(wsEvents.map((e) => e.seq));

    // JSON page of the same events
    const page = await json<{ items: Ev[]; lastSeq: number }>(
      await api(server.url, 'GET', `/api/sessions/${session.id}/events?after=0&limit=1000`),
    );
    expect(page.items.map((e) => e.seq)).toEqual(wsEvents.map((e) => e.seq));
    expect(page.lastSeq).toBe(wsEvents.length);

    // the conversation
    const msgs = await json<{ items: Array<{ role: string; text: string }> }>(
      await api(server.url, 'GET', `/api/sessions/${session.id}/messages`),
    );
    expect(msgs.items[0]).toMatchObject({ role: 'user', text: 'The tests fail. Fix the bug.' });
    expect(msgs.items.at(-1)).toMatchObject({
      role: 'assistant',
      text: 'Fixed the bug in add(), tests pass, and the fix is pushed.',
    });

    const after = await json<{
      status: string;
      usage: { inputTokens: number; costUsd: number };
      lastSeq: number;
    }>(await api(server.url, 'GET', `/api/sessions/${session.id}`));
    expect(after.status).toBe('idle');
    expect(after.usage.inputTokens).toBeGreaterThan(0);
    expect(after.usage.costUsd).toBeGreaterThan(0);
    expect(after.lastSeq).toBe(wsEvents.length);
  });

  it('a second message in the same session carries the history to the LLM', async () => {
    const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}));
    mock.setResponder((req) => ({
      kind: 'reply',
      blocks: [{ type: 'text', text: `turns=${req.messages.length}` }],
    }));
    const first = await json<{ runId: string }>(
      await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'one' }),
    );
    const second = await json<{ runId: string }>(
      await api(server.url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'two' }),
    );
    expect(first.runId).not.toBe(second.runId);
    const events = await waitFor(async () => {
      const evs = await allEvents(server.url, s.id);
      return evs.filter((e) => e.type === 'run.completed').length === 2 ? evs : undefined;
    });
    // runs of one session execute one at a time, in order
    const startedRuns = events.filter((e) => e.type === 'run.started').map((e) => e.runId);
    expect(startedRuns).toEqual([first.runId, second.runId]);
    const firstDone = events.findIndex((e) => e.type === 'run.completed');
    const secondStart = events.findIndex((e) => e.type === 'run.started' && e.runId === second.runId);
    expect(secondStart).toBeGreaterThan(firstDone);
    const finals = events.filter((e) => e.type === 'message.assistant').map((e) => e.data.text);
    expect(finals).toEqual(['turns=1', 'turns=3']);
    mock.setResponder(bugfixScenario('native'));
  });
});
