// Steering a running agent (docs/api.md §10): a message with `mode: "interrupt"` stops the active
// run while a long `sleep` tool call runs (its process dies), keeps the run's partial output in the
// history, and runs the new message next with the whole conversation — a request the Messages
// API accepts. `mode: "queue"` (the default) still waits behind the active run. HTTP and WebSocket.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationProblems } from '../../src/agent/history.ts';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  type MessagesRequest,
  type MockLlm,
  type RecordedRequest,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { INTERACTIVE_PRIORITY, STEER_PRIORITY } from '../../src/runs/sessions.ts';
import { allEvents, type TestEvent } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, waitFor } from '../helpers/server.ts';
import { until } from '../helpers/sleep.ts';
import { WsClient } from '../helpers/ws-client.ts';

/** The text blocks of the last user message of a request (not its tool results). */
function lastUserText(req: MessagesRequest): string {
  const last = [...req.messages].reverse().find((m) => m.role === 'user');
  return last ? textsOf(last.content).join('\n') : '';
}

/** `LONG:<n>` asks for a bash call that prints a line then sleeps 60.<n> s; anything else is answered. */
function responder(req: MessagesRequest) {
  const text = lastUserText(req);
  const long = /LONG:(\d+)/.exec(text);
  if (long)
    return toolCall(
      'bash',
      { command: `echo started-${long[1]}; sleep 60.${long[1]}` },
      { text: 'Starting.' },
    );
  return textReply(`reply to: ${text.split('\n').at(-1)}`);
}

/** Processes whose command line is `sleep 60.<n>` (the tool call of LONG:<n>). */
function sleeping(n: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('sleep') && argv[1] === `60.${n}`) count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

describe('steering (native engine)', () => {
  let mock: MockLlm;
  let server: TestServer;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer({ responder }, { ANTHROPIC_API_KEY: 'test-key' }));
  });
  afterAll(() => closeMockedServer(server, mock));

  const post = async (id: string, body: object) => {
    const res = await api(server.url, 'POST', `/api/sessions/${id}/messages`, body);
    expect(res.status).toBe(202);
    return (await json<{ runId: string }>(res)).runId;
  };
  const newSession = async () =>
    (await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', {}))).id;
  const eventsOf = async (id: string, runId: string) =>
    (await allEvents(server.url, id)).filter((e) => e.runId === runId);
  const until_ = (id: string, pred: (evs: TestEvent[]) => boolean) =>
    waitFor(async () => {
      const evs = await allEvents(server.url, id);
      return pred(evs) ? evs : undefined;
    }, 20_000);
  /** The first request the mock received for a conversation whose last user text includes `text`. */
  const requestWith = (text: string): RecordedRequest | undefined =>
    mock.requests.find((r) => lastUserText(r.body as MessagesRequest).includes(text));

  it('interrupt: stops the sleeping tool call at once and runs the new message next with the whole context', async () => {
    const id = await newSession();
    const first = await post(id, { content: 'Please do the long thing. LONG:101' });
    await until_(id, (evs) =>
      evs.some((e) => e.type === 'tool.output' && String(e.data.chunk).includes('started-101')),
    );
    await until(() => sleeping('101') > 0, 'the sleep to start');

    const second = await post(id, { content: 'Change of plan: stop that.', mode: 'interrupt' });
    const evs = await until_(id, (all) => all.some((e) => e.runId === second && e.type === 'run.completed'));
    expect((await server.runtime.store.getRun(second))?.priority).toBe(STEER_PRIORITY);
    const ends = evs.filter((e) => ['run.completed', 'run.failed', 'run.cancelled'].includes(e.type));
    expect(ends.map((e) => [e.runId, e.type])).toEqual([
      [first, 'run.cancelled'],
      [second, 'run.completed'],
    ]);
    await until(() => sleeping('101') === 0, 'the sleep to be killed');

    // The new run's first model request: the earlier context, the partial output, then the message.
    const req = requestWith('Change of plan')!.body as MessagesRequest;
    expect(conversationProblems(req.messages as never)).toEqual([]);
    expect(req.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(textsOf(req.messages[0]!.content).join()).toContain('LONG:101');
    const assistant = req.messages[1]!.content as Array<{ type: string; text?: string; name?: string }>;
    expect(assistant.map((b) => b.type)).toEqual(['text', 'tool_use']);
    expect(assistant[0]!.text).toBe('Starting.');
    const last = req.messages[2]!.content as Array<{ type: string; content?: string; is_error?: boolean }>;
    expect(last[0]).toMatchObject({ type: 'tool_result', is_error: true });
    expect(last[0]!.content).toMatch(/stopped before it finished.*interrupted/s);
    expect(last[0]!.content).toContain('started-101'); // what the command printed before it was stopped
    expect(last.at(-1)).toMatchObject({ type: 'text', text: 'Change of plan: stop that.' });

    // The session's conversation, in order: the interrupted turn's text is kept.
    const { items } = await json<{ items: Array<{ role: string; text: string }> }>(
      await api(server.url, 'GET', `/api/sessions/${id}/messages`),
    );
    expect(items.map((m) => `${m.role}: ${m.text}`)).toEqual([
      'user: Please do the long thing. LONG:101',
      'assistant: Starting.',
      'user: Change of plan: stop that.',
      'assistant: reply to: Change of plan: stop that.',
    ]);
    const audit = await json<{ items: Array<{ details: Record<string, unknown> }> }>(
      await api(server.url, 'GET', `/api/audit?action=session.message&target=${id}`),
    );
    expect(audit.items[0]!.details).toMatchObject({ runId: second, mode: 'interrupt', interrupted: first });
  });

  it('the steering message runs before messages queued earlier; queue mode waits behind the active run', async () => {
    const id = await newSession();
    const first = await post(id, { content: 'LONG:102' });
    await until_(id, (evs) => evs.some((e) => e.runId === first && e.type === 'tool.started'));
    const queued = await post(id, { content: 'queued behind' }); // mode defaults to queue
    const explicit = await post(id, { content: 'queued too', mode: 'queue' });
    // queue mode: the active run goes on
    expect((await eventsOf(id, first)).some((e) => e.type === 'run.cancelled')).toBe(false);
    expect(sleeping('102')).toBe(1);

    const steer = await post(id, { content: 'steer now', mode: 'interrupt' });
    const evs = await until_(id, (all) => all.filter((e) => e.type === 'run.completed').length === 3);
    const started = evs.filter((e) => e.type === 'run.started').map((e) => e.runId);
    expect(started).toEqual([first, steer, queued, explicit]);
    // each queued run saw the ones that ran before it, in the order they ran
    const q = requestWith('queued behind')!.body as MessagesRequest;
    expect(conversationProblems(q.messages as never)).toEqual([]);
    const userTexts = q.messages.filter((m) => m.role === 'user').flatMap((m) => textsOf(m.content));
    expect(userTexts).toEqual(['LONG:102', 'steer now', 'queued behind']);
  });

  it('interrupt in an idle session is an ordinary message: it does not jump ahead of other sessions', async () => {
    const id = await newSession();
    const runId = await post(id, { content: 'hello', mode: 'interrupt' });
    const evs = await until_(id, (all) => all.some((e) => e.type === 'run.completed'));
    expect(evs.filter((e) => e.type === 'run.cancelled')).toEqual([]);
    expect(evs.find((e) => e.type === 'run.completed')!.runId).toBe(runId);
    expect((await server.runtime.store.getRun(runId))?.priority).toBe(INTERACTIVE_PRIORITY);
  });

  it('over WebSocket: message with mode interrupt', async () => {
    const id = await newSession();
    const ws = await WsClient.connect(`${server.wsUrl}/ws`);
    try {
      ws.send({ type: 'subscribe', sessionId: id });
      ws.send({ type: 'message', sessionId: id, content: 'LONG:103' });
      await ws.waitFor(() => ws.events(id).some((e) => e.type === 'tool.started'));
      await until(() => sleeping('103') > 0, 'the sleep to start');
      ws.send({ type: 'message', sessionId: id, content: 'over ws: stop', mode: 'interrupt' });
      await ws.waitFor(() => ws.events(id).some((e) => e.type === 'run.completed'), 20_000);
      const types = ws.events(id).map((e) => e.type);
      expect(types.indexOf('run.cancelled')).toBeGreaterThan(-1);
      expect(types.indexOf('run.cancelled')).toBeLessThan(types.indexOf('run.completed'));
      const accepted = ws.frames.filter((f) => f.type === 'accepted');
      expect(accepted).toHaveLength(2);
      await until(() => sleeping('103') === 0, 'the sleep to be killed');
      // a bad mode is refused like any invalid field, and the connection stays open
      ws.send({ type: 'message', sessionId: id, content: 'x', mode: 'now' });
      await ws.waitFor((f) => f.some((x) => x.type === 'error'));
    } finally {
      await ws.close();
    }
    const bad = await api(server.url, 'POST', `/api/sessions/${id}/messages`, { content: 'x', mode: 'now' });
    expect(bad.status).toBe(400);
  });
});
