// A workflow end to end against "GitHub": the server clones a private repository over authenticated
// smart HTTP (a real git http-backend that wants the token), the scripted agent fixes the bug, runs
// the tests, commits on a branch, pushes it and opens a pull request on the fake GitHub API — first
// trying `git push` and `gh pr create` in bash, as a real model would, and following the message
// that names the tools. Every process is in the bubblewrap sandbox. The callback and GET carry
// pullRequestUrl, branch and commits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUGGY_MATH_JS, TEST_JS } from '../../src/mock-llm/fixtures.ts';
import { lastToolResults, type Responder, textReply, toolCall, turnIndex } from '../../src/mock-llm/index.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { type FakeGitHub, startFakeGitHub } from '../helpers/fake-github-api.ts';
import { type GitHttpServer, startGitHttpServer } from '../helpers/git-http-server.ts';
import { closeMockedServer, type MockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { tempDir } from '../helpers/server.ts';
import { type Api, authed, events, startReceiver, waitTerminal } from './helpers.ts';

const TOKEN = 'ghp_workflow_e2e_token_abcdef0123';
const BRANCH = 'fix/add-sum';

/** The agent: fix, test, branch, commit, then push and open the PR — bash first, then the tools. */
function bashFirstAgent(): Responder {
  const said = (req: Parameters<Responder>[0], text: string) =>
    lastToolResults(req).some((r) => r.content.includes(text));
  return (req) => {
    switch (turnIndex(req)) {
      case 0:
        return toolCall('fs', { operation: 'edit', path: 'math.js', oldString: 'a - b', newString: 'a + b' });
      case 1:
        return toolCall('bash', { command: 'node test.js' });
      case 2:
        return toolCall('git', { operation: 'checkout', branch: BRANCH, create: true });
      case 3:
        return toolCall('git', { operation: 'commit', message: 'Fix add() to return the sum', all: true });
      case 4:
        return toolCall('bash', { command: `git push -u origin ${BRANCH}` });
      case 5:
        // Only a model that was told which tool to use gets further.
        return said(req, 'Use the `git` tool')
          ? toolCall('git', { operation: 'push' })
          : textReply('I could not push.');
      case 6:
        return toolCall('bash', {
          command: 'gh pr create --title "Fix add()" --body "Sum, not difference."',
        });
      case 7:
        return said(req, 'Use the `gh` tool')
          ? toolCall('gh', { operation: 'pr_create', title: 'Fix add()', body: 'Sum, not difference.' })
          : textReply('I could not open the pull request.');
      default:
        return textReply('Fixed add(), pushed fix/add-sum and opened a pull request.');
    }
  };
}

describe.skipIf(!HAS_BWRAP)('a workflow that pushes a branch and opens a pull request on GitHub', () => {
  let gitServer: GitHttpServer;
  let github: FakeGitHub;
  let started: MockedServer;
  let api: Api;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    gitServer = await startGitHttpServer(await tempDir('gh-e2e-git-'), [TOKEN]);
    gitServer.createRepo('acme/widgets', { 'math.js': BUGGY_MATH_JS, 'test.js': TEST_JS });
    github = await startFakeGitHub({
      tokens: [TOKEN],
      repos: { 'acme/widgets': { defaultBranch: 'main' } },
      branchExists: (repo, branch) => {
        try {
          gitServer.git(repo, 'rev-parse', '--verify', `refs/heads/${branch}`);
          return true;
        } catch {
          return false;
        }
      },
    });
    receiver = await startReceiver();
    started = await startMockedServer(
      { responder: bashFirstAgent() },
      {
        ANTHROPIC_API_KEY: 'k',
        API_KEYS: 'key',
        SANDBOX: 'bwrap',
        ALLOW_FILE_REPOS: 'false',
        GITHUB_TOKEN: TOKEN,
        GITHUB_GIT_URL: gitServer.url,
        GITHUB_API_URL: github.url,
        CALLBACK_ALLOW_HOSTS: '127.0.0.1',
      },
    );
    api = authed(started.server.url, 'key');
  });
  afterAll(async () => {
    await closeMockedServer(started?.server, started?.mock);
    await receiver?.close();
    await github?.close();
    await gitServer?.close();
  });

  it('clones, fixes, pushes the branch and opens the PR; the result names them', async () => {
    const res = await api('POST', '/api/workflows', {
      type: 'refactor',
      instructions: 'The tests fail: fix add(), push a branch and open a pull request.',
      repoUrl: `${gitServer.url}/acme/widgets.git`,
      callbackUrl: `${receiver.url}/done`,
    });
    expect(res.status).toBe(202);
    const wf = (await res.json()) as { id: string };
    const done = await waitTerminal(api, wf.id, 120_000);
    const evs = await events(api, wf.id);
    const tools = evs
      .filter((e) => e.type === 'tool.completed')
      .map((e) => [e.data.name, e.data.isError, String(e.data.output).slice(0, 400)]);
    expect(done.status, JSON.stringify(tools, null, 1)).toBe('completed');

    // The bash attempts failed with the message naming the tool, and the tools then did it.
    expect(tools.map(([n, err]) => `${n}:${err}`)).toEqual([
      'fs:false',
      'bash:false',
      'git:false',
      'git:false',
      'bash:true',
      'git:false',
      'bash:true',
      'gh:false',
    ]);
    expect(tools[4]![2]).toContain('Use the `git` tool instead (operation "push")');
    expect(tools[6]![2]).toContain('Use the `gh` tool instead');

    const result = (done as { result?: Record<string, unknown> }).result!;
    expect(result.pullRequestUrl).toBe('https://github.com/acme/widgets/pull/1');
    expect(result.branch).toBe(BRANCH);
    expect(result.commits).toEqual([
      { sha: expect.stringMatching(/^[0-9a-f]{40}$/), message: 'Fix add() to return the sum' },
    ]);
    expect(result.changedFiles).toEqual(['math.js']);

    // The branch landed in the served repository; main is untouched.
    expect(gitServer.git('acme/widgets', 'log', '-1', '--format=%s', BRANCH)).toBe(
      'Fix add() to return the sum',
    );
    expect(gitServer.git('acme/widgets', 'show', `${BRANCH}:math.js`)).toContain('a + b');
    expect(gitServer.git('acme/widgets', 'show', 'main:math.js')).toContain('a - b');
    // Clone and push authenticated with the token (sent by the server's proxy).
    const services = gitServer.requests.filter((r) => r.password === TOKEN).map((r) => r.service);
    expect(services).toContain('git-upload-pack');
    expect(services).toContain('git-receive-pack');

    // The fake GitHub saw a correct PR creation with the token.
    const post = github.seen.find((s) => s.method === 'POST' && s.path === '/repos/acme/widgets/pulls')!;
    expect(post.authorization).toBe(`token ${TOKEN}`);
    expect(post.contentType).toMatch(/^application\/json/);
    expect(post.body).toEqual({
      title: 'Fix add()',
      head: BRANCH,
      base: 'main',
      body: 'Sum, not difference.',
    });

    // The callback carries the same result.
    const cb = await (async () => {
      for (let i = 0; i < 100 && receiver.deliveries.length === 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      return receiver.deliveries[0];
    })();
    expect(cb).toBeDefined();
    const body = JSON.parse(cb!.body) as { result: Record<string, unknown> };
    expect(body.result).toMatchObject({ pullRequestUrl: result.pullRequestUrl, branch: BRANCH });
    expect(body.result.commits).toEqual(result.commits);

    // Nothing the agent saw or the events hold carries the token.
    expect(JSON.stringify(evs)).not.toContain(TOKEN);
  });
});
