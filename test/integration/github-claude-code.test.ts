// The claude-code engine in the bubblewrap sandbox, with a model that does what a real one does
// first: `git push` and `gh pr create` in its own Bash. Both fail with a message naming
// mcp__server__git / mcp__server__gh (the Bash shims), the model follows it, and the branch and
// pull request land on "GitHub" (an authenticated git http-backend and the fake GitHub API). The
// system prompt already says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUGGY_MATH_JS, TEST_JS } from '../../src/mock-llm/fixtures.ts';
import {
  claudeCodeSideReply,
  isClaudeCodeSideRequest,
  lastToolResults,
  type MessagesRequest,
  type Responder,
  textReply,
  toolCall,
  toolUseCount,
} from '../../src/mock-llm/index.ts';
import { HAS_BWRAP } from '../helpers/bwrap.ts';
import { allEvents, isRunEnd } from '../helpers/events.ts';
import { type FakeGitHub, startFakeGitHub } from '../helpers/fake-github-api.ts';
import { type GitHttpServer, startGitHttpServer } from '../helpers/git-http-server.ts';
import { closeMockedServer, type MockedServer, startMockedServer } from '../helpers/mock-server.ts';
import { api, json, tempDir, waitFor } from '../helpers/server.ts';

const TOKEN = 'ghp_claude_code_e2e_0123456789';
const BRANCH = 'fix/cc-sum';

function systemText(req: MessagesRequest): string {
  return JSON.stringify(req.system ?? '');
}

function agent(prompts: string[]): Responder {
  const said = (req: MessagesRequest, text: string) =>
    lastToolResults(req).some((r) => r.content.includes(text));
  return (req) => {
    if (isClaudeCodeSideRequest(req)) return claudeCodeSideReply(req);
    prompts.push(systemText(req));
    switch (toolUseCount(req)) {
      case 0:
        return toolCall('Bash', {
          command: `sed -i 's/a - b/a + b/' math.js && node test.js && git checkout -q -b ${BRANCH} && git commit -qam 'Fix add()'`,
          description: 'fix, test, commit',
        });
      case 1:
        return toolCall('Bash', { command: `git push -u origin ${BRANCH}`, description: 'push' });
      case 2:
        return said(req, 'mcp__server__git')
          ? toolCall('mcp__server__git', { operation: 'push' })
          : textReply('I could not push.');
      case 3:
        return toolCall('Bash', {
          command: 'gh pr create --title "Fix add()" --body b',
          description: 'open PR',
        });
      case 4:
        return said(req, 'mcp__server__gh')
          ? toolCall('mcp__server__gh', { operation: 'pr_create', title: 'Fix add()', body: 'b' })
          : textReply('I could not open the PR.');
      default:
        return textReply('Pushed and opened the pull request.');
    }
  };
}

describe.skipIf(!HAS_BWRAP)('claude-code in the sandbox: Bash first, then the server tools', () => {
  let gitServer: GitHttpServer;
  let github: FakeGitHub;
  let started: MockedServer;
  const prompts: string[] = [];

  beforeAll(async () => {
    gitServer = await startGitHttpServer(await tempDir('cc-gh-git-'), [TOKEN]);
    gitServer.createRepo('acme/widgets', { 'math.js': BUGGY_MATH_JS, 'test.js': TEST_JS });
    github = await startFakeGitHub({ tokens: [TOKEN], repos: { 'acme/widgets': {} } });
    started = await startMockedServer(
      { responder: agent(prompts) },
      {
        ANTHROPIC_API_KEY: 'k',
        SANDBOX: 'bwrap',
        AGENT_ENGINE: 'claude-code',
        ALLOW_FILE_REPOS: 'false',
        GITHUB_TOKEN: TOKEN,
        GITHUB_GIT_URL: gitServer.url,
        GITHUB_API_URL: github.url,
      },
    );
  });
  afterAll(async () => {
    await closeMockedServer(started?.server, started?.mock);
    await github?.close();
    await gitServer?.close();
  });

  it('follows the message of the failed Bash commands to mcp__server__git and mcp__server__gh', async () => {
    const url = started.server.url;
    const s = await json<{ id: string }>(
      await api(url, 'POST', '/api/sessions', { repoUrl: `${gitServer.url}/acme/widgets.git` }),
    );
    await api(url, 'POST', `/api/sessions/${s.id}/messages`, { content: 'fix it and open a PR' });
    const evs = await waitFor(async () => {
      const all = await allEvents(url, s.id);
      return all.some(isRunEnd) ? all : undefined;
    }, 120_000);
    const results = evs
      .filter((e) => e.type === 'tool.completed')
      .map((e) => [e.data.name, e.data.isError, String(e.data.output).slice(0, 300)]);
    expect(evs.at(-1)!.type, JSON.stringify(results, null, 1)).toBe('run.completed');
    expect(results.map(([n, err]) => `${n}:${err}`)).toEqual([
      'Bash:false',
      'Bash:true',
      'mcp__server__git:false',
      'Bash:true',
      'mcp__server__gh:false',
    ]);
    expect(results[1]![2]).toContain('Use the `mcp__server__git` tool instead (operation "push")');
    expect(results[3]![2]).toContain('Use the `mcp__server__gh` tool instead');
    expect(gitServer.git('acme/widgets', 'log', '-1', '--format=%s', BRANCH)).toBe('Fix add()');
    expect(github.pulls).toMatchObject([{ repo: 'acme/widgets', head: BRANCH, base: 'main' }]);
    // The system prompt told the model before it tried.
    expect(prompts[0]).toContain('Your Bash commands have no network access and no GitHub credentials');
    expect(prompts[0]).toContain('mcp__server__git');
    expect(JSON.stringify(evs)).not.toContain(TOKEN);
  });
});
