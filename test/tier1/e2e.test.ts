// Tier 1 → Tier 2 → Tier 1, end to end, with the Worker in the real Workers runtime (workerd):
// - Telegram: a user's "fix the failing test in acme/widgets" reaches the Worker; it escalates and
//   answers with the workflow id while the workflow is provably still running (the model is held);
//   the server clones the repository, the scripted agent fixes, tests, commits, pushes a branch and
//   opens a PR on the fake GitHub API; the Worker receives the signed callback and sends the
//   Telegram message with the PR URL.
// - GitHub: an issue comment mentioning @duyetbot does the same on that repository; the result is a
//   comment; the bot's own comments, echoed back as webhooks as GitHub does, start nothing.
import { AgentClient } from '@duyetbot/tier1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/sleep.ts';
import {
  alice,
  BRANCH,
  type Chain,
  FINAL_TEXT,
  GH_HOOK_SECRET,
  getWorkflow,
  SECRET,
  showFile,
  startChain,
  TG_HOOK_SECRET,
} from './e2e-harness.ts';

let chain: Chain;

beforeAll(async () => {
  chain = await startChain({ repos: ['acme/widgets', 'acme/gadgets'] });
});
afterAll(() => chain?.close());

describe('Telegram → agent server → Telegram', () => {
  it('escalates at once, and the PR link arrives when the workflow is done', async () => {
    const { tg, worker, server, gh } = chain;
    let release!: () => void;
    chain.hold = new Promise<void>((r) => {
      release = r;
    });
    const update = tg.userMessage(alice, 'fix the failing test in acme/widgets');
    const userMessageId = (update.message as { message_id: number }).message_id;
    const t0 = performance.now();
    const res = await tg.deliver(`${worker.url}/telegram`, TG_HOOK_SECRET, update);
    const webhookMs = performance.now() - t0;
    expect(res.status).toBe(200);
    // Cloudflare ends a webhook at 30 s; the answer must come well before the work does.
    expect(webhookMs).toBeLessThan(30_000);
    // (With §10 notifications a "⏳ running" message may follow; the "Started" reply is one.)
    const started = tg.botMessages(alice.id).filter((m) => m.text.startsWith('Started'));
    expect(started).toHaveLength(1);
    const id = /^Started coding task \(ID: (wf_[a-z0-9]+)\)/.exec(started[0]!.text)?.[1];
    expect(id, started[0]!.text).toBeDefined();
    expect(started[0]!.reply_to_message_id).toBe(userMessageId);
    // The model has not answered yet: the user already has the id of a workflow still under way.
    expect(['pending', 'running']).toContain((await getWorkflow(server, id!)).status);
    release();
    chain.hold = undefined;

    await until(
      () => tg.botMessages(alice.id).some((m) => m.text.includes('Pull request:')),
      'the result message',
      60_000,
    );
    const wf = await getWorkflow(server, id!);
    expect(wf.status).toBe('completed');
    const pr = gh.pulls('acme/widgets');
    expect(pr).toHaveLength(1);
    expect(pr[0]).toMatchObject({
      head: { ref: BRANCH },
      base: { ref: 'main' },
      title: 'Fix add() to return the sum',
    });
    expect((wf.result as { pullRequestUrl?: string }).pullRequestUrl).toBe(pr[0]!.html_url);
    // What the fake GitHub accepted is really on the remote: the fix, on the branch.
    expect(showFile(chain.bareRepo('acme/widgets'), BRANCH, 'math.js')).toContain('return a + b;');
    expect(showFile(chain.bareRepo('acme/widgets'), 'main', 'math.js')).toContain('return a - b;');

    const result = tg.botMessages(alice.id).find((m) => m.text.includes('Pull request:'))!;
    expect(result.text).toContain(`✅ Task ${id} completed.`);
    expect(result.text).toContain(FINAL_TEXT);
    expect(result.text).toContain(`Pull request: ${pr[0]!.html_url}`);
    expect(result.reply_to_message_id).toBe(userMessageId);
    // The server recorded the callback as delivered (the Worker answered 2xx after verifying it).
    await until(
      async () => ((await getWorkflow(server, id!)).callback as { status: string }).status === 'delivered',
    );

    // Telegram redelivers the same update: the same workflow, no second "Started".
    expect((await tg.deliver(`${worker.url}/telegram`, TG_HOOK_SECRET, update)).status).toBe(200);
    expect(tg.botMessages(alice.id).filter((m) => m.text.startsWith('Started'))).toHaveLength(1);
  });
});

describe('GitHub issue comment → agent server → GitHub comment', () => {
  it('a comment mentioning @duyetbot starts a workflow on that repository; the result is a comment', async () => {
    const { gh, worker, server } = chain;
    const res = await gh.sendIssueComment(`${worker.url}/github`, GH_HOOK_SECRET, {
      repo: 'acme/gadgets',
      issue: 7,
      body: '@duyetbot please fix the failing test',
      login: 'alice',
      association: 'OWNER',
    });
    expect(res.status).toBe(200);
    const started = gh.comments('acme/gadgets', 7).filter((c) => c.body.startsWith('Started'));
    expect(started).toHaveLength(1);
    const id = /^Started coding task \(ID: (wf_[a-z0-9]+)\) for @alice/.exec(started[0]!.body)?.[1];
    expect(id, started[0]!.body).toBeDefined();
    const wf0 = await getWorkflow(server, id!);
    expect(wf0.repoUrl).toBe(`file://${chain.root}/acme/gadgets/origin.git`);
    expect(wf0.instructions).toContain('GitHub issue acme/gadgets#7: add() returns the difference');

    await until(
      () => gh.comments('acme/gadgets', 7).some((c) => c.body.includes('Pull request:')),
      'the result comment',
      60_000,
    );
    const pr = gh.pulls('acme/gadgets');
    expect(pr).toHaveLength(1);
    const result = gh.comments('acme/gadgets', 7).find((c) => c.body.includes('Pull request:'))!;
    expect(result.body).toContain(`✅ Task ${id} completed.`);
    expect(result.body).toContain(`Pull request: ${pr[0]!.html_url}`);
    expect(showFile(chain.bareRepo('acme/gadgets'), BRANCH, 'math.js')).toContain('return a + b;');

    // GitHub delivers the bot's own comments (which mention @duyetbot? no matter) back to the
    // webhook: the Worker answers them and starts nothing.
    await until(() => gh.echoes.length >= 2, 'echoed webhooks');
    expect(gh.echoes.every((e) => e.status === 200)).toBe(true);
    const client = new AgentClient({ baseUrl: server.url, signingSecret: SECRET });
    const all = (await client.list({ limit: 50 })).items;
    expect(all.filter((w) => w.repoUrl?.includes('acme/gadgets'))).toHaveLength(1);
  });

  it('refuses forged deliveries and ignores strangers, other bots and comments without the mention', async () => {
    const { gh, worker, server } = chain;
    const client = new AgentClient({ baseUrl: server.url, signingSecret: SECRET });
    const count = async () => (await client.list({ limit: 100 })).items.length;
    const before = await count();
    const hook = `${worker.url}/github`;
    const comment = { repo: 'acme/gadgets', issue: 7, body: '@duyetbot fix the failing test' };

    // Signed with another secret; tampered body; no signature.
    expect((await gh.sendIssueComment(hook, 'not-the-secret', comment)).status).toBe(401);
    const d = gh.issueCommentDelivery(GH_HOOK_SECRET, comment);
    const tampered = d.body.replace('"OWNER"', '"NONE"').replace('fix the failing test', 'delete the repo');
    expect((await fetch(hook, { method: 'POST', headers: d.headers, body: tampered })).status).toBe(401);
    const { 'X-Hub-Signature-256': _s, ...unsigned } = d.headers;
    expect((await fetch(hook, { method: 'POST', headers: unsigned, body: d.body })).status).toBe(401);

    const commentsBefore = gh.comments('acme/gadgets', 7).length;
    for (const o of [
      { ...comment, association: 'NONE' as const, login: 'stranger' },
      { ...comment, association: 'CONTRIBUTOR' as const, login: 'drive-by' },
      { ...comment, userType: 'Bot' as const, login: 'other-bot[bot]' },
      { ...comment, login: 'duyetbot' },
      { ...comment, body: 'fix the failing test (no mention)' },
      { ...comment, body: '@duyetbotx fix the failing test' },
    ]) {
      expect((await gh.sendIssueComment(hook, GH_HOOK_SECRET, o)).status).toBe(200);
    }
    expect(gh.comments('acme/gadgets', 7).length).toBe(commentsBefore);
    expect(await count()).toBe(before);
  });
});
