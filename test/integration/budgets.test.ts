// Hard budgets end to end (docs/api.md §10): the real server, the native engine and the mock LLM
// reporting large usage. A run is stopped with `budget_exceeded` in the model turn that passes its
// session's, workflow's or the server's limit (usage so far in the event and the workflow's
// error); a budget of 0 never reaches the LLM; a key's daily cap refuses its next run while another
// key still runs; /metrics counts it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  byMarker,
  type MessagesRequest,
  type MockLlm,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { validEvents } from '../helpers/event-schema.ts';
import { allEvents, type TestEvent, waitForRunEnd } from '../helpers/events.ts';
import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, type TestServer, waitFor } from '../helpers/server.ts';

const TURN_INPUT = 15_000;

/** Every turn of `[[script:big]]` asks for a tool and reports TURN_INPUT input tokens: the run never ends by itself. */
const big = () => ({
  ...toolCall('bash', { command: 'echo step' }),
  usage: { inputTokens: TURN_INPUT, outputTokens: 10 },
});

/** The tag that names a conversation in the mock's recorded requests. */
function requestsTagged(mock: MockLlm, tag: string): number {
  return mock.requests.filter((r) => {
    const body = r.body as MessagesRequest | undefined;
    const first = body?.messages?.find((m) => m.role === 'user');
    return first !== undefined && textsOf(first.content).some((t) => t.includes(tag));
  }).length;
}

type Failure = { code: string; message: string; usage?: { inputTokens: number; outputTokens: number } };

async function send(server: TestServer, body: object, headers: Record<string, string> = {}) {
  const s = await json<{ id: string }>(await api(server.url, 'POST', '/api/sessions', body, headers));
  return s.id;
}

async function message(
  server: TestServer,
  sessionId: string,
  content: string,
  headers: Record<string, string> = {},
) {
  const res = await api(server.url, 'POST', `/api/sessions/${sessionId}/messages`, { content }, headers);
  expect(res.status).toBe(202);
  return (await json<{ runId: string }>(res)).runId;
}

/** The session's events once a run ended, read with the caller's credentials. */
async function runEnd(server: TestServer, id: string, headers: Record<string, string>): Promise<TestEvent[]> {
  return waitFor(async () => {
    const res = await api(
      server.url,
      'GET',
      `/api/sessions/${id}/events?after=0&limit=1000`,
      undefined,
      headers,
    );
    const { items } = await json<{ items: TestEvent[] }>(res);
    validEvents(items, `events of ${id}`);
    return items.some((e) => e.type === 'run.completed' || e.type === 'run.failed') ? items : undefined;
  });
}

const failureOf = (evs: TestEvent[]): Failure | undefined =>
  (evs.find((e) => e.type === 'run.failed')?.data as { error: Failure } | undefined)?.error;

describe('budgets (native engine, server cap 50000 tokens per session or workflow)', () => {
  let mock: MockLlm;
  let server: TestServer;
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      { responder: byMarker({ big: () => big() }) },
      { ANTHROPIC_API_KEY: 'test-key', BUDGET_MAX_TOKENS: '50000' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it("a session's budget stops its run in the turn that passes it; the next message is refused", async () => {
    const id = await send(server, { policy: { budget: { maxTokens: 40_000 } } });
    await message(server, id, '[[script:big]] tag-session');
    const evs = await waitForRunEnd(server.url, id);
    const err = failureOf(evs);
    expect(err?.code).toBe('budget_exceeded');
    // 15k + 15k + (the third turn's message_start) 15k > 40k: stopped in the third turn
    expect(requestsTagged(mock, 'tag-session')).toBe(3);
    expect(err?.usage?.inputTokens).toBe(3 * TURN_INPUT);
    expect(err?.message).toMatch(/session's budget of 40000 tokens/);
    const session = await json<{ usage: { inputTokens: number }; status: string }>(
      await api(server.url, 'GET', `/api/sessions/${id}`),
    );
    expect(session.usage.inputTokens).toBe(3 * TURN_INPUT);

    await message(server, id, 'and now?');
    await waitFor(
      async () => (await allEvents(server.url, id)).filter((e) => e.type === 'run.failed').length === 2,
    );
    expect(requestsTagged(mock, 'tag-session')).toBe(3); // the refused run made no request
  });

  it("without a policy the server's cap is the budget", async () => {
    const id = await send(server, {});
    await message(server, id, '[[script:big]] tag-server');
    const err = failureOf(await waitForRunEnd(server.url, id));
    expect(err?.code).toBe('budget_exceeded');
    expect(err?.message).toMatch(/server's cap/);
    expect(requestsTagged(mock, 'tag-server')).toBe(4); // 60k > 50k in the fourth turn
  });

  it("a workflow's budget fails the workflow with budget_exceeded and the usage so far", async () => {
    const res = await api(server.url, 'POST', '/api/workflows', {
      type: 'custom',
      instructions: '[[script:big]] tag-workflow',
      policy: { budget: { maxTokens: 20_000 } },
    });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    const wf = await waitFor(async () => {
      const w = await json<{ status: string; error?: Failure; usage: { inputTokens: number } }>(
        await api(server.url, 'GET', `/api/workflows/${id}`),
      );
      return w.status === 'failed' || w.status === 'completed' ? w : undefined;
    });
    expect(wf.status).toBe('failed');
    expect(wf.error?.code).toBe('budget_exceeded');
    expect(wf.error?.message).toMatch(/workflow's budget of 20000 tokens/);
    expect(wf.error?.usage?.inputTokens).toBe(2 * TURN_INPUT);
    expect(wf.usage.inputTokens).toBe(2 * TURN_INPUT);
    expect(requestsTagged(mock, 'tag-workflow')).toBe(2);
  });

  it('a budget of 0 runs nothing: no request reaches the LLM', async () => {
    const id = await send(server, { policy: { budget: { maxCostUsd: 0 } } });
    await message(server, id, '[[script:big]] tag-zero');
    const evs = await waitForRunEnd(server.url, id);
    expect(failureOf(evs)?.code).toBe('budget_exceeded');
    expect(evs.some((e) => e.type === 'run.started')).toBe(false);
    expect(requestsTagged(mock, 'tag-zero')).toBe(0);
  });

  it('/metrics counts the budget failures and the tokens the stopped runs used', async () => {
    const text = await (await api(server.url, 'GET', '/metrics')).text();
    const failed = /agent_runs_failed_total\{code="budget_exceeded"\} (\d+)/.exec(text);
    expect(Number(failed?.[1])).toBeGreaterThanOrEqual(4);
    const input = /agent_llm_tokens_total\{direction="input"\} (\d+)/.exec(text);
    // session 3 turns + server 4 + workflow 2, all stopped
    expect(Number(input?.[1])).toBeGreaterThanOrEqual(9 * TURN_INPUT);
  });
});

describe('per-key daily cap (BUDGET_DAILY_TOKENS_PER_KEY=100000)', () => {
  let mock: MockLlm;
  let server: TestServer;
  const A = { Authorization: 'Bearer key-a' };
  const B = { Authorization: 'Bearer key-b' };
  beforeAll(async () => {
    ({ mock, server } = await startMockedServer(
      { responder: () => textReply('done', { usage: { inputTokens: 60_000, outputTokens: 5 } }) },
      { ANTHROPIC_API_KEY: 'test-key', API_KEYS: 'key-a,key-b', BUDGET_DAILY_TOKENS_PER_KEY: '100000' },
    ));
  });
  afterAll(() => closeMockedServer(server, mock));

  it("stops the key's run that passes it, refuses the key's next run, and another key still runs", async () => {
    const a1 = await send(server, {}, A);
    await message(server, a1, 'tag-a1', A);
    expect((await runEnd(server, a1, A)).some((e) => e.type === 'run.completed')).toBe(true);

    const a2 = await send(server, {}, A);
    await message(server, a2, 'tag-a2', A);
    const err2 = failureOf(await runEnd(server, a2, A));
    expect(err2?.code).toBe('budget_exceeded');
    expect(err2?.message).toMatch(/daily budget/);
    expect(err2?.usage?.inputTokens).toBe(60_000);

    const a3 = await send(server, {}, A);
    await message(server, a3, 'tag-a3', A);
    const err3 = failureOf(await runEnd(server, a3, A));
    expect(err3?.code).toBe('budget_exceeded');
    expect(err3?.message).toMatch(/is spent .*not started/);
    expect(requestsTagged(mock, 'tag-a3')).toBe(0);

    // the cap is per key: B has spent nothing today
    const b1 = await send(server, {}, B);
    await message(server, b1, 'tag-b1', B);
    expect((await runEnd(server, b1, B)).some((e) => e.type === 'run.completed')).toBe(true);
  });
});
