// The example Worker's GitHub side in workerd, against the signature-checking fake agent server and
// the fake GitHub: ping, malformed payloads, a quick question answered in place, what an escalated
// comment submits, and approvals decided by "@duyetbot approve" / "deny" comments (§10) — only by
// collaborators, only when one is pending.

import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, type IssueCommentOptions, startFakeGitHub } from '../helpers/fake-github.ts';
import { type FakeAgent, startFakeAgent } from './fake-agent.ts';
import { type RunningWorker, startWorker } from './worker-harness.ts';

const SECRET = 'worker-gh-signing-secret';
const HOOK = 'gh-hook-secret';
let gh: FakeGitHub;
let agent: FakeAgent;
let worker: RunningWorker;

beforeAll(async () => {
  gh = await startFakeGitHub();
  gh.addRepo('acme/api', '/nonexistent.git', {
    3: { title: 'Flaky test', body: 'It fails sometimes.' },
    4: { title: 'Other', body: '' },
  });
  agent = await startFakeAgent(SECRET);
  worker = await startWorker({
    AGENT_SERVER_URL: agent.url,
    SIGNING_SECRET: SECRET,
    GITHUB_TOKEN: gh.token,
    GITHUB_WEBHOOK_SECRET: HOOK,
    GITHUB_API_URL: gh.url,
    BOT_LOGIN: gh.botLogin,
    PUBLIC_URL: 'https://tier1.example.com/',
    APPROVE: 'git.push,github',
  });
});
afterAll(async () => {
  await worker?.close();
  await agent?.close();
  await gh?.close();
});

const hook = () => `${worker.url}/github`;
const comment = (o: Partial<IssueCommentOptions> & { body: string }) =>
  gh.sendIssueComment(hook(), HOOK, {
    repo: 'acme/api',
    issue: 3,
    login: 'alice',
    association: 'MEMBER',
    ...o,
  });
const lastComment = (issue = 3) => gh.comments('acme/api', issue).at(-1);

describe('the GitHub webhook', () => {
  it('answers ping, ignores other events, refuses malformed payloads', async () => {
    const post = (event: string, body: string) =>
      fetch(hook(), {
        method: 'POST',
        headers: {
          'X-GitHub-Event': event,
          'X-Hub-Signature-256': `sha256=${createHmac('sha256', HOOK).update(body).digest('hex')}`,
        },
        body,
      });
    expect(await (await post('ping', '{"zen":"Keep it logically awesome."}')).text()).toBe('pong');
    expect(await (await post('push', '{}')).text()).toBe('ignored');
    expect((await post('issue_comment', '{not json')).status).toBe(400);
    expect((await post('issue_comment', '{"action":"created"}')).status).toBe(400);
  });

  it('answers a quick question in place and submits nothing', async () => {
    const before = agent.requests.length;
    expect((await comment({ body: '@duyetbot what does this project do?' })).status).toBe(200);
    expect(lastComment()!.body).toMatch(/Tier 1 answers it directly/);
    expect(agent.requests.length).toBe(before);
  });

  it('an escalated comment submits a signed workflow with the issue as context', async () => {
    expect((await comment({ body: 'Hey @duyetbot, can you fix the flaky test?' })).status).toBe(200);
    const sub = agent.requests.at(-1)!;
    expect(sub).toMatchObject({
      path: '/api/workflows',
      body: {
        type: 'custom',
        repoUrl: 'https://github.com/acme/api.git',
        callbackUrl: 'https://tier1.example.com/callback',
        policy: { approve: ['git.push', 'github'] },
        metadata: { tier1: { source: 'github', repo: 'acme/api', issue: 3 } },
      },
    });
    const instructions = String(sub.body!.instructions);
    expect(instructions).toContain('GitHub issue acme/api#3: Flaky test');
    expect(instructions).toContain('It fails sometimes.');
    expect(instructions).toContain('Request from @alice: Hey, can you fix the flaky test?');
    expect(String(sub.body!.idempotencyKey)).toMatch(/^gh:\d+$/);
    expect(lastComment()!.body).toMatch(/^Started coding task \(ID: wf_fake\d+\) for @alice/);
  });
});

describe('approvals by comment', () => {
  it('"@duyetbot approve" decides the pending approval of that issue, once, and only from a collaborator', async () => {
    expect((await comment({ body: '@duyetbot approve' })).status).toBe(200);
    expect(lastComment()!.body).toBe('@alice there is no pending approval here.');

    await comment({ body: '@duyetbot fix the flaky test' });
    const wf = /\(ID: (wf_\w+)\)/.exec(lastComment()!.body)![1]!;
    const ev = {
      kind: 'event',
      workflowId: wf,
      event: {
        seq: 7,
        sessionId: wf,
        type: 'approval.requested',
        ts: new Date().toISOString(),
        data: {
          approvalId: 'apr_gh',
          toolUseId: 't',
          name: 'git',
          input: { operation: 'push' },
          rule: 'git.push',
          expiresAt: new Date(Date.now() + 60_000).toISOString(),
        },
      },
    };
    // The server would post to PUBLIC_URL; the test posts to the Worker itself (the signature covers the path).
    const res = await agent.callback(`${worker.url}/callback`, ev, { 'X-Callback-Kind': 'event' });
    expect(res.status).toBe(200);
    expect(lastComment()!.body).toContain(`Task ${wf} asks to run git (rule git.push)`);
    expect(lastComment()!.body).toContain('Reply `@duyetbot approve`');

    const calls = agent.requests.length;
    await comment({ body: '@duyetbot approve', login: 'stranger', association: 'NONE' });
    await comment({ body: '@duyetbot approve', issue: 4 });
    expect(agent.requests.length).toBe(calls);
    expect(lastComment(4)!.body).toBe('@alice there is no pending approval here.');

    await comment({ body: '@duyetbot approve', login: 'bob', association: 'COLLABORATOR' });
    expect(agent.requests.at(-1)).toMatchObject({
      path: `/api/workflows/${wf}/approvals/apr_gh`,
      body: { decision: 'allow', message: 'allow by @bob on GitHub' },
    });
    expect(lastComment()!.body).toMatch(/^Allowed by @bob: /);
    await comment({ body: '@duyetbot deny' });
    expect(lastComment()!.body).toBe('@alice there is no pending approval here.');
    expect(agent.requests.length).toBe(calls + 1);
  });
});
