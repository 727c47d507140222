// People in the loop (docs/api.md §10) end to end, on both engines, through the real server, real
// git and the mock LLM playing the bugfix scenario (read, fix, test, commit, push) under
// `policy.approve: ["git.push"]`: the push waits for a decision —
// - allowed over HTTP (a workflow): it lands in the bare repository, and the workflow's callback
//   receiver gets the signed approval.requested notification before the terminal result;
// - denied over the WebSocket (a session): nothing is pushed, the model reads the denial;
// - ignored: denied at the (short) timeout, the run completes.
// The fourth case — the server killed while a push waits — is approvals-restart.test.ts.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VerifyCallbackResult, verifyCallback } from '../../src/client/verify-callback.ts';
import { bugfixScenario, createBugfixRepo, type MockLlm } from '../../src/mock-llm/index.ts';
import { BUGFIX_COMMIT_MESSAGE } from '../../src/mock-llm/scenarios.ts';
import { validEvents } from '../helpers/event-schema.ts';
import type { TestEvent as Ev } from '../helpers/events.ts';

type TestEvent = Ev & { ts: string };

import { closeMockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { json, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { WsClient } from '../helpers/ws-client.ts';
import { API_KEY, type Api, authed, SECRET, startReceiver } from '../workflows/helpers.ts';

type Engine = 'native' | 'claude-code';
const ENGINES: Engine[] = ['native', 'claude-code'];

/** The subject of main's newest commit in the bare repository. */
const headSubject = (bare: string): string =>
  execFileSync('git', ['--git-dir', bare, 'log', '-1', '--format=%s', 'main'], { encoding: 'utf8' }).trim();

/** The tool call of the push, as each engine's scenario makes it. */
const PUSH_TOOL: Record<Engine, { name: string; input: Record<string, unknown> }> = {
  native: { name: 'git', input: { operation: 'push' } },
  'claude-code': { name: 'Bash', input: { command: 'git push' } },
};

describe.each(ENGINES)('approvals end to end (%s engine)', (engine) => {
  let mock: MockLlm;
  let server: TestServer;
  let api: Api;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    ({ mock, server } = await startMockedServer(
      { responder: bugfixScenario(engine) },
      {
        ANTHROPIC_API_KEY: 'test-key',
        AGENT_ENGINE: engine,
        API_KEYS: API_KEY,
        SIGNING_SECRET: SECRET,
        CALLBACK_ALLOW_HOSTS: '127.0.0.1',
        RATE_LIMIT_PER_MINUTE: '1000000',
      },
    ));
    api = authed(server.url);
  });
  afterAll(async () => {
    await closeMockedServer(server, mock);
    await receiver?.close();
  });

  const events = async (sessionId: string): Promise<TestEvent[]> => {
    const { items } = await json<{ items: TestEvent[] }>(
      await api('GET', `/api/sessions/${sessionId}/events?after=0&limit=1000`),
    );
    validEvents(items, `events of ${sessionId}`);
    return items;
  };
  const until = (sessionId: string, pred: (evs: TestEvent[]) => boolean, timeoutMs = 90_000) =>
    waitFor(async () => {
      const evs = await events(sessionId);
      return pred(evs) ? evs : undefined;
    }, timeoutMs);
  const of = (evs: TestEvent[], type: string) => evs.filter((e) => e.type === type);

  it('a workflow: the push waits, is allowed over HTTP and lands; the receiver gets the signed notifications before the result', async () => {
    const { bareRepo } = await createBugfixRepo(await tempDir('appr-allow-'));
    const before = headSubject(bareRepo);
    const res = await api('POST', '/api/workflows', {
      type: 'refactor',
      instructions: 'The tests fail. Fix the bug, commit and push.',
      repoUrl: bareRepo,
      engine,
      callbackUrl: `${receiver.url}/cb/${engine}?x=1`,
      notify: ['approval.requested', 'approval.resolved'],
      policy: { approve: ['git.push'] },
    });
    expect(res.status).toBe(202);
    const wf = await json<{ id: string; sessionId: string; policy: unknown; notify: unknown }>(res);
    expect(wf.policy).toEqual({ approve: ['git.push'] });
    expect(wf.notify).toEqual(['approval.requested', 'approval.resolved']);

    const evs = await until(wf.sessionId, (e) => of(e, 'approval.requested').length > 0);
    const requested = of(evs, 'approval.requested')[0]!;
    expect(requested.data).toMatchObject({ ...PUSH_TOOL[engine], rule: 'git.push' });
    const approvalId = String(requested.data.approvalId);
    // it waits: nothing is pushed, the session says so, the approval is listed as pending
    expect(headSubject(bareRepo)).toBe(before);
    const session = await json<{ status: string }>(await api('GET', `/api/sessions/${wf.sessionId}`));
    expect(session.status).toBe('waiting');
    const pendingList = await json<{ items: Array<Record<string, unknown>> }>(
      await api('GET', '/api/approvals?status=pending'),
    );
    expect(pendingList.items.find((a) => a.approvalId === approvalId)).toMatchObject({
      sessionId: wf.sessionId,
      workflowId: wf.id,
      status: 'pending',
      rule: 'git.push',
      toolUseId: requested.data.toolUseId,
    });
    // the Tier 1 bot hears of it while it waits (that is what its buttons are for)
    await waitFor(async () => receiver.deliveries.some((d) => d.url.startsWith(`/cb/${engine}`)), 10_000);

    // decided through the wrong routes: not found; a malformed decision: 400
    const other = await json<{ id: string }>(await api('POST', '/api/sessions', {}));
    expect(
      (await api('POST', `/api/sessions/${other.id}/approvals/${approvalId}`, { decision: 'allow' })).status,
    ).toBe(404);
    expect(
      (await api('POST', `/api/workflows/wf_nope/approvals/${approvalId}`, { decision: 'allow' })).status,
    ).toBe(404);
    expect(
      (await api('POST', `/api/workflows/${wf.id}/approvals/apr_nope`, { decision: 'allow' })).status,
    ).toBe(404);
    for (const bad of [
      {},
      { decision: 'maybe' },
      { decision: 'allow', extra: 1 },
      { decision: 'deny', message: 7 },
    ]) {
      const r = await api('POST', `/api/workflows/${wf.id}/approvals/${approvalId}`, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect((await json<{ error: { code: string } }>(r)).error.code).toBe('invalid_request');
    }

    const decided = await api('POST', `/api/workflows/${wf.id}/approvals/${approvalId}`, {
      decision: 'allow',
    });
    expect(decided.status).toBe(200);
    expect(await json(decided)).toEqual({ approvalId, decision: 'allow', by: 'user' });
    const again = await api('POST', `/api/workflows/${wf.id}/approvals/${approvalId}`, { decision: 'deny' });
    expect(again.status).toBe(409);
    expect((await json<{ error: { code: string } }>(again)).error.code).toBe('conflict');

    const done = await waitFor(async () => {
      const w = await json<{ status: string; callback?: { status: string } }>(
        await api('GET', `/api/workflows/${wf.id}`),
      );
      return w.status !== 'pending' && w.status !== 'running' && w.callback?.status === 'delivered'
        ? w
        : undefined;
    }, 90_000);
    expect(done.status).toBe('completed');
    expect(headSubject(bareRepo)).toBe(BUGFIX_COMMIT_MESSAGE);
    const all = await events(wf.sessionId);
    const resolved = of(all, 'approval.resolved')[0]!;
    expect(resolved.data).toEqual({ approvalId, decision: 'allow', by: 'user' });
    // the push ran after the decision, and succeeded
    const pushDone = all.find(
      (e) => e.type === 'tool.completed' && e.data.toolUseId === requested.data.toolUseId,
    )!;
    expect(pushDone.seq).toBeGreaterThan(resolved.seq);
    expect(pushDone.data.isError).toBe(false);

    // the receiver: signed notifications in seq order, then the result
    const mine = receiver.deliveries.filter((d) => d.url.startsWith(`/cb/${engine}`));
    const verified: VerifyCallbackResult[] = [];
    for (const d of mine)
      verified.push(
        await verifyCallback({
          secret: SECRET,
          method: 'POST',
          url: d.url,
          headers: d.headers,
          rawBody: d.body,
        }),
      );
    expect(verified.every((v) => v.ok)).toBe(true);
    expect(mine.map((d) => d.headers['x-callback-kind'])).toEqual(['event', 'event', 'result']);
    const [n1, n2, result] = mine.map((d) => JSON.parse(d.body) as Record<string, unknown>);
    expect(n1).toEqual({ kind: 'event', workflowId: wf.id, event: requested });
    expect(n2).toEqual({ kind: 'event', workflowId: wf.id, event: resolved });
    expect(result).toMatchObject({ id: wf.id, status: 'completed' });
    expect(mine.map((d) => d.headers['x-delivery-id'])).toEqual([
      `ev_${wf.id}_${requested.seq}`,
      `ev_${wf.id}_${resolved.seq}`,
      `cb_${wf.id}`,
    ]);
    // the decision is in the audit log
    const audit = await json<{ items: Array<Record<string, unknown>> }>(
      await api('GET', `/api/audit?action=approval.decide&target=${wf.id}`),
    );
    expect(audit.items.map((a) => a.outcome).sort()).toEqual(['error', 'error', 'ok']);
  });

  it('a session: the push is denied over the WebSocket, nothing is pushed, the model reads the denial', async () => {
    const { bareRepo } = await createBugfixRepo(await tempDir('appr-deny-'));
    const before = headSubject(bareRepo);
    const s = await json<{ id: string }>(
      await api('POST', '/api/sessions', { repoUrl: bareRepo, engine, policy: { approve: ['git.push'] } }),
    );
    // no credentials: no WebSocket, so no way to decide
    await expect(WsClient.connect(`${server.wsUrl}/ws`)).rejects.toThrow(/401/);
    const ws = await WsClient.connect(`${server.wsUrl}/ws`, { Authorization: `Bearer ${API_KEY}` });
    try {
      ws.send({ type: 'subscribe', sessionId: s.id, after: 0 });
      ws.send({ type: 'message', sessionId: s.id, content: 'The tests fail. Fix the bug, commit and push.' });
      await ws.waitFor(() => ws.events(s.id).some((e) => e.type === 'approval.requested'), 90_000);
      const requested = ws.events(s.id).find((e) => e.type === 'approval.requested')!;
      const approvalId = String(requested.data.approvalId);
      // unknown id, another session's approval, a malformed frame: error frames, nothing decided
      const other = await json<{ id: string }>(await api('POST', '/api/sessions', {}));
      ws.send({ type: 'approve', sessionId: s.id, approvalId: 'apr_nope', decision: 'deny' });
      ws.send({ type: 'approve', sessionId: other.id, approvalId, decision: 'allow' });
      ws.send({ type: 'approve', sessionId: s.id, approvalId, decision: 'yes' });
      await ws.waitFor((f) => f.filter((x) => x.type === 'error').length >= 3);
      // (frames are answered as their work ends, not necessarily in the order sent)
      expect(
        ws.frames
          .filter((x) => x.type === 'error')
          .map((x) => `${x.code} ${x.sessionId}`)
          .sort(),
      ).toEqual([`invalid_request ${s.id}`, `not_found ${other.id}`, `not_found ${s.id}`].sort());
      expect((await json<{ status: string }>(await api('GET', `/api/sessions/${s.id}`))).status).toBe(
        'waiting',
      );

      ws.send({ type: 'approve', sessionId: s.id, approvalId, decision: 'deny', message: 'not today' });
      await ws.waitFor(() => ws.events(s.id).some((e) => e.type === 'approval.resolved'));
      expect(ws.events(s.id).find((e) => e.type === 'approval.resolved')!.data).toEqual({
        approvalId,
        decision: 'deny',
        by: 'user',
        message: 'not today',
      });
      // the same again: already decided
      ws.send({ type: 'approve', sessionId: s.id, approvalId, decision: 'allow' });
      await ws.waitFor((f) => f.filter((x) => x.type === 'error').length >= 4);
      expect(ws.frames.filter((x) => x.type === 'error').at(-1)).toMatchObject({
        code: 'conflict',
        sessionId: s.id,
      });

      await ws.waitFor(
        () => ws.events(s.id).some((e) => e.type === 'run.completed' || e.type === 'run.failed'),
        90_000,
      );
      const evs = ws.events(s.id);
      expect(evs.at(-1)!.type).toBe('run.completed');
      const pushDone = evs.find(
        (e) => e.type === 'tool.completed' && e.data.toolUseId === requested.data.toolUseId,
      )!;
      expect(pushDone.data.isError).toBe(true);
      expect(String(pushDone.data.output)).toContain('denied by the user: not today');
    } finally {
      await ws.close();
    }
    expect(headSubject(bareRepo)).toBe(before);
    // the model's next request carried the denial as the push's tool result
    expect(mock.requests.some((r) => JSON.stringify(r.body).includes('denied by the user: not today'))).toBe(
      true,
    );
    expect((await json<{ status: string }>(await api('GET', `/api/sessions/${s.id}`))).status).toBe('idle');
  });

  it('ignored: denied at the timeout, and the run completes without pushing', async () => {
    const { bareRepo } = await createBugfixRepo(await tempDir('appr-timeout-'));
    const before = headSubject(bareRepo);
    const s = await json<{ id: string }>(
      await api('POST', '/api/sessions', {
        repoUrl: bareRepo,
        engine,
        policy: { approve: ['git.push'], approvalTimeoutMs: 1_500 },
      }),
    );
    await api('POST', `/api/sessions/${s.id}/messages`, { content: 'Fix the bug, commit and push.' });
    const evs = await until(s.id, (e) =>
      e.some((x) => x.type === 'run.completed' || x.type === 'run.failed'),
    );
    expect(evs.at(-1)!.type).toBe('run.completed');
    const requested = of(evs, 'approval.requested')[0]!;
    const resolved = of(evs, 'approval.resolved')[0]!;
    expect(resolved.data).toEqual({ approvalId: requested.data.approvalId, decision: 'deny', by: 'timeout' });
    // expiresAt is the gate's time of asking + the timeout; the event is stored a moment later
    const lead = Date.parse(String(requested.data.expiresAt)) - Date.parse(requested.ts);
    expect(lead).toBeGreaterThan(1_000);
    expect(lead).toBeLessThanOrEqual(1_500);
    const pushDone = evs.find(
      (e) => e.type === 'tool.completed' && e.data.toolUseId === requested.data.toolUseId,
    )!;
    expect(String(pushDone.data.output)).toContain('approval timed out');
    expect(headSubject(bareRepo)).toBe(before);
    const decided = await json<{ items: Array<Record<string, unknown>> }>(
      await api('GET', '/api/approvals?status=decided'),
    );
    expect(decided.items.find((a) => a.approvalId === requested.data.approvalId)).toMatchObject({
      status: 'decided',
      decision: 'deny',
      by: 'timeout',
      sessionId: s.id,
      decidedAt: expect.any(String),
    });
  });
});
