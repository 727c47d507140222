// The example Worker's Telegram side in workerd, against a fake agent server that checks signatures
// (./fake-agent.ts) and the fake Telegram Bot API: what it submits, what it refuses, the approval
// buttons (docs/api.md §10: an `approval.requested` notification becomes a message with inline
// buttons; a press calls POST /api/workflows/:id/approvals/:approvalId), and the callback receiver's
// defences (signature, request-vs-callback, window, nonce replay, X-Delivery-Id repeats).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackSignedHeaders, signedHeaders } from '../../src/security/signing.ts';
import { type FakeTelegram, startFakeTelegram, type TgUser } from '../helpers/fake-telegram.ts';
import { until } from '../helpers/sleep.ts';
import { type FakeAgent, startFakeAgent } from './fake-agent.ts';
import { type RunningWorker, startWorker } from './worker-harness.ts';

const SECRET = 'worker-test-signing-secret';
const HOOK_SECRET = 'tg-hook-secret_0123';
const alice: TgUser = { id: 4242, first_name: 'Alice', username: 'alice' };
const mallory: TgUser = { id: 6666, first_name: 'Mallory' };

let tg: FakeTelegram;
let agent: FakeAgent;
let worker: RunningWorker;

beforeAll(async () => {
  tg = await startFakeTelegram();
  agent = await startFakeAgent(SECRET);
  worker = await startWorker({
    AGENT_SERVER_URL: agent.url,
    SIGNING_SECRET: SECRET,
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_WEBHOOK_SECRET: HOOK_SECRET,
    TELEGRAM_API_URL: tg.url,
    TELEGRAM_ALLOWED_USERS: String(alice.id),
    REPO_URL_TEMPLATE: 'https://git.example.com/{repo}.git',
    APPROVE: 'git.push',
  });
});
afterAll(async () => {
  await worker?.close();
  await agent?.close();
  await tg?.close();
});

const hook = () => `${worker.url}/telegram`;
const lastBot = (chatId: number) => tg.botMessages(chatId).at(-1);

/** Sends `text` as `user` and returns the bot's new messages in that chat. */
async function say(user: TgUser, text: string) {
  const before = tg.botMessages(user.id).length;
  const res = await tg.deliver(hook(), HOOK_SECRET, tg.userMessage(user, text));
  expect(res.status).toBe(200);
  return tg.botMessages(user.id).slice(before);
}

/** Escalates a task as alice; returns the workflow id the fake agent gave it. */
async function startTask(text = 'fix the failing test in acme/widgets'): Promise<string> {
  const msgs = await say(alice, text);
  const id = /\(ID: (wf_\w+)\)/.exec(msgs[0]?.text ?? '')?.[1];
  expect(id, JSON.stringify(msgs)).toBeDefined();
  return id!;
}

function approvalEvent(workflowId: string, approvalId: string, seq = 5) {
  return {
    kind: 'event',
    workflowId,
    event: {
      seq,
      sessionId: workflowId,
      runId: 'run_1',
      type: 'approval.requested',
      ts: new Date().toISOString(),
      data: {
        approvalId,
        toolUseId: 'toolu_1',
        name: 'git',
        input: { operation: 'push' },
        rule: 'git.push',
        expiresAt: new Date(Date.now() + 900_000).toISOString(),
      },
    },
  };
}

describe('the Telegram webhook', () => {
  it('refuses updates without the secret token', async () => {
    const update = tg.userMessage(alice, 'fix the failing test in acme/widgets');
    const before = agent.requests.length;
    expect((await tg.deliver(hook(), 'wrong', update)).status).toBe(401);
    expect((await fetch(hook(), { method: 'POST', body: JSON.stringify(update) })).status).toBe(401);
    expect(agent.requests.length).toBe(before);
    expect((await fetch(hook())).status).toBe(405);
    expect((await fetch(`${worker.url}/health`)).status).toBe(200);
  });

  it('answers quick questions itself and submits nothing', async () => {
    const before = agent.requests.length;
    expect((await say(alice, 'hi'))[0]?.text).toMatch(/Tier 1 answers it directly/);
    expect((await say(alice, 'what is a closure?'))[0]?.text).toMatch(/Tier 1/);
    expect(agent.requests.length).toBe(before);
  });

  it('escalates a code change with a signed request and tells the user the id at once', async () => {
    const update = tg.userMessage(alice, 'fix the failing test in acme/widgets');
    const userMessageId = (update.message as { message_id: number }).message_id;
    expect((await tg.deliver(hook(), HOOK_SECRET, update)).status).toBe(200);
    const sub = agent.requests.at(-1)!;
    expect(sub.path).toBe('/api/workflows');
    expect(sub.body).toMatchObject({
      type: 'custom',
      repoUrl: 'https://git.example.com/acme/widgets.git',
      callbackUrl: `${worker.url}/callback`,
      idempotencyKey: `tg:${update.update_id}`,
      notify: ['run.started', 'approval.requested', 'approval.resolved'],
      policy: { approve: ['git.push'] },
      metadata: { tier1: { source: 'telegram', chatId: alice.id, messageId: userMessageId } },
    });
    const reply = lastBot(alice.id)!;
    expect(reply.text).toMatch(/^Started coding task \(ID: wf_fake\d+\)/);
    expect(reply.reply_to_message_id).toBe(userMessageId);

    // A redelivered update (Telegram got no 200 in time) says nothing twice.
    const n = tg.botMessages(alice.id).length;
    expect((await tg.deliver(hook(), HOOK_SECRET, update)).status).toBe(200);
    expect(tg.botMessages(alice.id).length).toBe(n + 1); // the fake agent gives a new id; a real server the same
  });

  it('does not let a stranger start work', async () => {
    const before = agent.requests.length;
    expect((await say(mallory, 'fix the failing test in acme/widgets'))[0]?.text).toMatch(/may not start/);
    expect(agent.requests.length).toBe(before);
  });
});

describe('approval buttons', () => {
  it('an approval request becomes a message with buttons; Allow calls the approval route', async () => {
    const wf = await startTask();
    const res = await agent.callback(`${worker.url}/callback`, approvalEvent(wf, 'apr_one'), {
      'X-Callback-Kind': 'event',
      'X-Delivery-Id': `ev_${wf}_5`,
    });
    expect(res.status).toBe(200);
    const msg = lastBot(alice.id)!;
    expect(msg.text).toMatch(new RegExp(`Task ${wf} asks to run git \\(rule git.push\\)`));
    const buttons = msg.reply_markup!.inline_keyboard.flat();
    expect(buttons.map((b) => b.text)).toEqual(['✅ Allow', '❌ Deny']);
    for (const b of buttons) expect(Buffer.byteLength(b.callback_data)).toBeLessThanOrEqual(64);

    // Mallory (not allowed) replays the button data: refused, nothing sent.
    const calls = agent.requests.length;
    const late = tg.pressButton(alice, alice.id, msg.message_id, buttons[0]!.callback_data) as {
      callback_query: { id: string };
    };
    const forged = structuredClone(
      tg.pressButton(alice, alice.id, msg.message_id, buttons[0]!.callback_data),
    ) as { callback_query: { id: string; from: TgUser } };
    forged.callback_query.from = { ...mallory };
    expect((await tg.deliver(hook(), HOOK_SECRET, forged)).status).toBe(200);
    expect(tg.answered.get(forged.callback_query.id)).toBe('You may not decide this request.');
    expect(agent.requests.length).toBe(calls);

    const pressed = tg.pressButton(alice, alice.id, msg.message_id, buttons[0]!.callback_data);
    expect((await tg.deliver(hook(), HOOK_SECRET, pressed)).status).toBe(200);
    const call = agent.requests.at(-1)!;
    expect(call).toMatchObject({
      method: 'POST',
      path: `/api/workflows/${wf}/approvals/apr_one`,
      body: { decision: 'allow', message: 'allow by @alice on Telegram' },
    });
    const q = (pressed.callback_query as { id: string }).id;
    expect(tg.answered.get(q)).toBe('Allowed');
    const edited = tg.chat(alice.id).find((m) => m.message_id === msg.message_id)!;
    expect(edited.reply_markup).toBeUndefined();
    expect(edited.text).toMatch(/Allowed by @alice\.$/);

    // A press that was already on its way when the buttons went: no second decision.
    expect((await tg.deliver(hook(), HOOK_SECRET, late)).status).toBe(200);
    expect(tg.answered.get(late.callback_query.id)).toBe('This request is no longer pending.');
    expect(agent.requests.length).toBe(calls + 1);
  });

  it('Deny sends deny; a request the server already decided says so', async () => {
    const wf = await startTask();
    for (const [approvalId, status, expected] of [
      ['apr_two', 200, 'Denied'],
      ['apr_three', 409, 'Already decided'],
      ['apr_four', 404, 'No longer pending'],
    ] as const) {
      agent.approvalStatus = status;
      await agent.callback(`${worker.url}/callback`, approvalEvent(wf, approvalId), {
        'X-Callback-Kind': 'event',
        'X-Delivery-Id': `ev_${wf}_${approvalId}`,
      });
      const msg = lastBot(alice.id)!;
      const deny = msg.reply_markup!.inline_keyboard.flat()[1]!;
      const press = tg.pressButton(alice, alice.id, msg.message_id, deny.callback_data);
      await tg.deliver(hook(), HOOK_SECRET, press);
      expect(agent.requests.at(-1)).toMatchObject({
        path: `/api/workflows/${wf}/approvals/${approvalId}`,
        body: { decision: 'deny' },
      });
      expect(tg.answered.get((press.callback_query as { id: string }).id)).toBe(expected);
    }
    agent.approvalStatus = 200;
  });

  it('a server-side decision (timeout) is reported', async () => {
    const wf = await startTask();
    const ev = {
      kind: 'event',
      workflowId: wf,
      event: {
        seq: 9,
        sessionId: wf,
        type: 'approval.resolved',
        ts: new Date().toISOString(),
        data: { approvalId: 'apr_t', decision: 'deny', by: 'timeout' },
      },
    };
    expect((await agent.callback(`${worker.url}/callback`, ev, { 'X-Callback-Kind': 'event' })).status).toBe(
      200,
    );
    expect(lastBot(alice.id)!.text).toBe(`Approval apr_t of task ${wf}: deny (timeout).`);
  });
});

describe('the callback receiver', () => {
  const result = (id: string) => ({
    id,
    type: 'custom',
    priority: 'medium',
    status: 'completed',
    instructions: 'x',
    payload: {},
    metadata: {},
    sessionId: id,
    attempts: 1,
    createdAt: new Date().toISOString(),
    result: { summary: 'Fixed it.', pullRequestUrl: 'https://github.com/acme/widgets/pull/3' },
    usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
  });
  const cbUrl = () => `${worker.url}/callback`;

  it('delivers a verified result once, with the pull request link', async () => {
    const wf = await startTask();
    const headers = { 'X-Callback-Kind': 'result', 'X-Delivery-Id': `cb_${wf}` };
    expect((await agent.callback(cbUrl(), result(wf), headers)).status).toBe(200);
    const msg = lastBot(alice.id)!;
    expect(msg.text).toContain(`✅ Task ${wf} completed.`);
    expect(msg.text).toContain('Pull request: https://github.com/acme/widgets/pull/3');
    // The same delivery again (the server crashed before recording our 2xx): answered, not repeated.
    const n = tg.botMessages(alice.id).length;
    const again = await agent.callback(cbUrl(), result(wf), { ...headers, 'X-Delivery-Attempt': '2' });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe('duplicate');
    expect(tg.botMessages(alice.id).length).toBe(n);
  });

  it('a summary longer than Telegram takes is cut, not retried forever', async () => {
    const wf = await startTask();
    const long = {
      ...result(wf),
      result: { summary: 'x'.repeat(10_000), pullRequestUrl: 'https://github.com/a/b/pull/1' },
    };
    expect((await agent.callback(cbUrl(), long, { 'X-Delivery-Id': `cb_${wf}` })).status).toBe(200);
    const msg = lastBot(alice.id)!;
    expect(msg.text.length).toBeLessThanOrEqual(4096);
    expect(msg.text).toContain('… (truncated)');
    expect(msg.text).toMatch(/Pull request: https:\/\/github.com\/a\/b\/pull\/1$/);
  });

  it('refuses forged, replayed, stale and request-signed callbacks', async () => {
    const wf = await startTask();
    const n = tg.botMessages(alice.id).length;
    const body = JSON.stringify(result(wf));
    const post = (headers: Record<string, string>, raw = body) =>
      fetch(cbUrl(), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: raw,
      });

    expect((await post({})).status).toBe(401);
    expect((await post(callbackSignedHeaders('not-the-secret', cbUrl(), body))).status).toBe(401);
    // A valid REQUEST signature over the same bytes is not a callback signature.
    expect((await post(signedHeaders(SECRET, 'POST', cbUrl(), body))).status).toBe(401);
    // Signed for another path, or over other bytes.
    expect((await post(callbackSignedHeaders(SECRET, `${worker.url}/other`, body))).status).toBe(401);
    expect(
      (await post(callbackSignedHeaders(SECRET, cbUrl(), body), body.replace('Fixed', 'Owned'))).status,
    ).toBe(401);
    // Outside the ±300 s window.
    expect((await post(callbackSignedHeaders(SECRET, cbUrl(), body, Date.now() - 400_000))).status).toBe(401);
    // A captured valid callback replayed: the nonce was used.
    const captured = callbackSignedHeaders(SECRET, cbUrl(), body);
    expect((await post({ ...captured, 'X-Delivery-Id': 'cb_replay' })).status).toBe(200);
    const replay = await post({ ...captured, 'X-Delivery-Id': 'cb_replay_2' });
    expect(replay.status).toBe(401);
    expect(await replay.text()).toBe('replay');
    expect(tg.botMessages(alice.id).length).toBe(n + 1);
    // Valid signature, unreadable body.
    expect((await post(callbackSignedHeaders(SECRET, cbUrl(), '{"nope":1}'), '{"nope":1}')).status).toBe(400);
  });

  it('answers 500 for a workflow it does not know, so the server retries later', async () => {
    const res = await agent.callback(cbUrl(), result('wf_unknown'), { 'X-Delivery-Id': 'cb_wf_unknown' });
    expect(res.status).toBe(500);
    // once linked (here: by metadata, as a real server echoes it), the retry is delivered
    const withMeta = {
      ...result('wf_unknown'),
      metadata: { tier1: { source: 'telegram', chatId: alice.id, messageId: 1 } },
    };
    await until(
      async () =>
        (await agent.callback(cbUrl(), withMeta, { 'X-Delivery-Id': 'cb_wf_unknown' })).status === 200,
      'retry',
    );
    expect(lastBot(alice.id)!.text).toContain('Task wf_unknown completed.');
  });
});
